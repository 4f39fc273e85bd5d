"""The SLA portal in a real browser (Debian's headless Chromium through chromedriver) over
data a real run put into ClickHouse: log in as a customer, see its figures equal the views,
fail to see another customer's pages, print the monthly report to PDF, export a CSV.
Screenshots of the main pages go to PORTAL_SCREENSHOTS (default var/screenshots)."""

from __future__ import annotations

import base64
import csv
import io
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from streams.portal.access import new_token
from streams.kafka_util import read_all
from streams.tools.workerproc import free_ports
from tests.conftest import clickhouse
from tests.integration import scenario
from tests.integration import test_olas_live as olas_live
from tests.integration.helpers import send
from tests.integration.test_sla_live import breach_records, start_time, wait_for_members, wait_for_outcome
from tests.integration.test_whatif_live import PROBES, probe_records

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# CI installs them (deploy/install-browser) and sets REQUIRE_BROWSER, so there a missing browser fails.
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("REQUIRE_BROWSER"),
                                reason="needs Debian's chromium and chromium-driver (deploy/install-browser)")
GLOBEX = """
  - id: globex-std
    customer: globex
    services: [billing]
    tickets:
      warn_at: [0.5]
      targets:
        P1: {response: 4s, resolution: 8s}
"""
SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "var/screenshots"))


def globex_records(t0: datetime) -> list[tuple[str, str, bytes]]:
    out = []
    for kind, key, value in scenario.records(t0, "g-"):
        if kind == "ticket":
            event = orjson.loads(value)
            out.append((kind, key, orjson.dumps({**event, "customer": "globex", "service": "billing"})))
    return out


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def table_rows(driver, name: str) -> list[dict[str, str]]:
    from selenium.webdriver.common.by import By

    table = driver.find_element(By.CSS_SELECTOR, f"table[data-table='{name}']")
    rows = table.find_elements(By.TAG_NAME, "tr")
    header = [c.get_attribute("data-column") for c in rows[0].find_elements(By.TAG_NAME, "th")]
    return [dict(zip(header, (c.text for c in r.find_elements(By.TAG_NAME, "td")))) for r in rows[1:]]


def visible(driver, css: str, shot: str):
    """The element `css` names, checked to be on screen with a size, and its screenshot saved."""
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView()", element)
    assert element.is_displayed() and element.size["width"] > 50 and element.size["height"] > 10, css
    png = element.screenshot_as_png
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") > 50, css  # width from the IHDR chunk
    (SHOTS / shot).write_bytes(png)
    return element


def follow(driver, element) -> None:
    """Click a link or a submit button and wait for the page it leads to: a click returns
    before the navigation (seen on a busy machine: the old page was read)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")

    def left(_) -> bool:
        try:
            return expected_conditions.staleness_of(old)(driver)
        except WebDriverException as exc:  # asked mid-navigation, chromedriver says so instead of "stale"
            if "does not belong to the document" in (exc.msg or ""):
                return True
            raise

    element.click()
    WebDriverWait(driver, 30).until(left)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_a_customer_sees_its_own_figures_and_nothing_else(run, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    policy = run.tmp / "policy.yaml"
    policy.write_text(scenario.POLICY.read_text().rstrip() + "\n" + PROBES + GLOBEX)
    worker = run.worker(SLA_POLICY_FILE=str(policy), PROBE_IDLE_S="3")
    t0 = start_time()
    send(run.settings, scenario.records(t0) + globex_records(t0) + probe_records(datetime.now(timezone.utc)))
    expected = len(scenario.EXPECTED_EVENTS) + sum(1 for i, _, _ in scenario.EXPECTED_EVENTS if i.startswith("ticket"))
    worker.wait_until(lambda: len({r["event_id"] for r in breach_records(run) if r["kind"] != "slo"}) >= expected,
                      90, "both customers' lifecycle events")  # globex sends tickets only
    worker.stop()
    run.store(SLA_POLICY_FILE=str(policy))

    # What the views say, read before the portal opens the (embedded, single-process) database.
    with clickhouse(run.chdb_path) as client:
        want = {(k, m, lv): (n, met, missed, br) for k, m, lv, n, met, missed, br in client.query(
            "SELECT contract_id, metric, level, count(), countIf(outcome = 'met'), countIf(outcome = 'missed'), "
            "countIf(breached) FROM sla_instances_current WHERE customer = 'acme' "
            "GROUP BY contract_id, metric, level").result_rows}
        (availability, credit), = client.query(
            "SELECT availability, credit_percent FROM service_credits_monthly WHERE customer = 'acme'").result_rows
        (objective,), = client.query(
            "SELECT availability_objective FROM slo_attainment_monthly WHERE customer = 'acme'").result_rows
        globex_instance = client.command("SELECT any(instance_id) FROM sla_instances_current WHERE customer = 'globex'")

    tokens = {who: new_token() for who in ("acme", "globex")}
    portal, base = start_portal(run, "".join(f"  - {{name: {w}, customer: {w}, token_sha256: \"{h}\"}}\n"
                                             for w, (_, h) in tokens.items()))
    try:
        month = datetime.now(timezone.utc).strftime("%Y-%m")

        browser.get(f"{base}/c/acme")  # not logged in yet: to the log-in page
        assert browser.current_url.endswith("/login")
        browser.find_element(By.ID, "token").send_keys("not a token")
        follow(browser, browser.find_element(By.ID, "login"))
        assert "not valid" in browser.page_source
        browser.find_element(By.ID, "token").send_keys(tokens["acme"][0])
        follow(browser, browser.find_element(By.ID, "login"))
        assert browser.current_url == f"{base}/c/acme"
        browser.save_screenshot(str(SHOTS / "customer.png"))

        shown = {(r["contract"], r["metric"], r["level"]): (int(r["instances"]), int(r["met"]), int(r["missed"]),
                                                             int(r["breached"])) for r in table_rows(browser, "sla")}
        assert shown == want and len(want) == 4
        (probe,) = table_rows(browser, "probes")
        assert float(probe["availability_pct"].removesuffix(" %")) == pytest.approx(100 * availability, abs=1e-3)
        assert float(probe["credit_pct"].removesuffix(" %")) == credit
        headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "table[data-table='sla'] th")]
        assert "Target" in headers and "target_s" not in headers  # words, not the database's columns
        assert any(t.endswith((" min", " h", " s")) for t in (r["target_s"] for r in table_rows(browser, "sla")))
        glance = visible(browser, "[data-summary]", "customer-summary.png")
        states = [li.get_attribute("data-state") for li in glance.find_elements(By.TAG_NAME, "li")]
        missed = sum(1 for _, _, lost, breached in want.values() if lost or breached)  # breached: missed already
        assert states.count("missed") == missed + (availability < objective) and "commitments decided" in glance.text
        assert (f"Service credit owed: {credit:g} %" if credit else "No service credit owed.") in glance.text

        for foreign in ("/c/globex", f"/i/{globex_instance}", f"/c/acme/contract/globex-std/{month}",
                        f"/c/globex/report/{month}", "/customers", "/c/nobody"):
            assert urllib_status(base, foreign, tokens["acme"][0]) == 404, foreign
        browser.get(f"{base}/c/globex")
        assert "Not found" in browser.title and "acme-gold" not in browser.page_source

        browser.get(f"{base}/c/acme/contract/fast/{month}")
        assert len(browser.find_elements(By.TAG_NAME, "svg")) == 3  # availability strip, burn-down, breaches
        strip = visible(browser, "figure.strip", "strip.png")
        days = strip.find_elements(By.CSS_SELECTOR, "rect.day")
        assert len(days) == 90 and days[-1].get_attribute("data-day") == datetime.now(timezone.utc).strftime("%Y-%m-%d")
        assert {d.get_attribute("class") for d in days[-1:]} <= {"day met", "day missed"}  # today has results
        burn = visible(browser, "figure.burn", "burn-down.png")
        assert all(label in burn.text for label in ("100 %", "0 %", "even spend"))
        browser.save_screenshot(str(SHOTS / "contract.png"))
        breached = [r["instance"] for r in table_rows(browser, "breaches") if r["type"] == "breached"]
        assert sorted(set(breached)) == sorted(i.format("") for i, t, _ in scenario.EXPECTED_EVENTS
                                               if t == "breached")
        follow(browser, browser.find_element(By.LINK_TEXT, "ticket:T2:fast:response"))
        inputs = table_rows(browser, "inputs")
        assert [r["event_id"] for r in inputs] == ["T2-3"]  # T2 had one event: the breach came from the clock
        assert [r["type"] for r in table_rows(browser, "lifecycle")] == ["warning", "breached"]
        facts = visible(browser, "[data-instance-summary]", "instance-summary.png")
        assert "target" in facts.text and "On the clock" in facts.text and "stood still" in facts.text
        trail = visible(browser, "ol.timeline", "timeline.png")
        kinds = [li.get_attribute("data-kind") for li in trail.find_elements(By.TAG_NAME, "li")]
        assert kinds == ["input", "warning", "breached"]  # the update, then the clock alone
        assert "Breached: the target of" in trail.text
        browser.save_screenshot(str(SHOTS / "instance.png"))

        browser.get(f"{base}/c/acme/report/{month}")
        document = visible(browser, "header.report", "report-header.png")
        assert "Customer: acme" in document.text and "Period:" in document.text
        visible(browser, "[data-summary]", "report-summary.png")
        headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
        assert any(h.startswith("1. ") for h in headings) and any(h.startswith("3. Contract") for h in headings)
        browser.save_screenshot(str(SHOTS / "report.png"))
        pdf = base64.b64decode(browser.print_page())
        assert pdf.startswith(b"%PDF") and len(pdf) > 1000
        (SHOTS / "report.pdf").write_bytes(pdf)

        exported = list(csv.DictReader(io.StringIO(urllib_body(base, "/c/acme?csv=sla", tokens["acme"][0]))))
        assert {(r["contract"], r["metric"], r["level"]): (int(r["instances"]), int(r["met"]), int(r["missed"]),
                                                           int(r["breached"])) for r in exported} == want
    finally:
        portal.terminate()
        portal.wait(10)


def start_portal(run, users: str) -> tuple[subprocess.Popen, str]:
    """`slastream portal` over the run's ClickHouse with these users (YAML list items); its base URL."""
    path = run.tmp / "users.yaml"
    path.write_text("users:\n" + users)
    port = free_ports(1)[0]
    portal = subprocess.Popen([sys.executable, "-m", "streams.cli", "portal", "--port", str(port)],
                              env={**run.env, "PORTAL_USERS_FILE": str(path), "PYTHONPATH": str(Path.cwd())},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/login", timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline and portal.poll() is None, "the portal did not start"
            time.sleep(0.2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return portal, base


def log_in(driver, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.ID, "token").send_keys(token)
    follow(driver, driver.find_element(By.ID, "login"))


def test_analysts_see_the_olas_and_customers_never_see_internal_groups(run, browser) -> None:
    from selenium.webdriver.common.by import By

    worker = run.worker(SLA_POLICY_FILE=str(olas_live.POLICY))
    wait_for_members(run, worker, 1)
    send(run.settings, olas_live.records(start_time()))
    wait_for_outcome(run, worker, len(olas_live.EXPECTED))
    worker.stop()
    run.store(SLA_POLICY_FILE=str(olas_live.POLICY))
    with clickhouse(run.chdb_path) as client:
        attainment = {(t, m, lv): (met, missed) for t, m, lv, met, missed in client.query(
            "SELECT ola, metric, priority, met, missed FROM ola_attainment_monthly").result_rows}
        split = {(i, g or "(no group)"): held for i, g, held in client.query(
            "SELECT instance_id, assignment_group, held_s FROM sla_time_split WHERE breached").result_rows}
    assert len(attainment) == 3 and split == {("ticket:O2:fast:response", "network"): 4.0,
                                              ("ticket:O2:fast:resolution", "network"): 10.0}
    (analyst, analyst_hash), (acme, acme_hash) = new_token(), new_token()
    portal, base = start_portal(run, f"  - {{name: ana, role: analyst, token_sha256: \"{analyst_hash}\"}}\n"
                                     f"  - {{name: acme, customer: acme, token_sha256: \"{acme_hash}\"}}\n")
    try:
        log_in(browser, base, analyst)
        follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Internal teams (OLAs)"))
        assert browser.current_url.startswith(f"{base}/olas")
        shown = {(r["team"], r["metric"], r["level"]): (int(r["met"]), int(r["missed"]))
                 for r in table_rows(browser, "ola_attainment")}
        assert shown == attainment
        assert {(r["instance"], r["team"]): r["held_s"] for r in table_rows(browser, "time_split")} == {
            ("ticket:O2:fast:response", "network"): "4 s", ("ticket:O2:fast:resolution", "network"): "10 s"}
        assert {r["team"]: (r["handed_on"], r["came_back"]) for r in table_rows(browser, "handoffs")} == {
            "desk": ("1", "1"), "network": ("1", "0")}
        visible(browser, "table[data-table='ola_attainment']", "olas.png")
        browser.save_screenshot(str(SHOTS / "olas-page.png"))

        assert urllib_status(base, "/olas", acme) == 404  # as if there were no such page
        assert urllib_status(base, "/olas?csv=ola_attainment", acme) == 404
        for page in ("/c/acme", "/i/ticket:O1:fast:resolution", f"/c/acme/contract/fast/{datetime.now(timezone.utc):%Y-%m}"):
            body = urllib_body(base, page, acme)
            assert "acme" in body and not any(g in body for g in ("desk", "network", "ola")), page
    finally:
        portal.terminate()
        portal.wait(10)


def urllib_status(base: str, path: str, token: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"}),
                                    timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def urllib_body(base: str, path: str, token: str) -> str:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode()


def test_a_customer_sees_its_queues_and_their_failing_intervals(run, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    from tests.integration import contact_week
    from tests.integration.test_contacts_live import ENV, as_records

    policy = tmp_path / "policy.yaml"
    policy.write_text(contact_week.POLICY)
    env = {"SLA_POLICY_FILE": str(policy), **ENV}
    start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    week = [c for c in contact_week.week(start, days=3) if c["ended_at"] < contact_week._iso(datetime.now(timezone.utc))]
    send(run.settings, as_records(week))
    worker = run.worker(**env)
    expected = contact_week.intervals(week)
    worker.wait_until(lambda: len({(r["customer"], r["queue"], r["interval_start"]) for r in (
        orjson.loads(m.value()) for m in read_all(run.settings, run.settings.topic_contact_intervals))}) == len(expected),
        180, "every interval published", every=1.0)
    worker.stop()
    run.store(**env)
    with clickhouse(run.chdb_path) as client:
        objectives = {tuple(r[:4]): (r[4], r[5]) for r in client.query(
            "SELECT objective, queue, measure, toString(month_met), intervals, intervals_met FROM contact_attainment_monthly "
            "WHERE customer = 'acme'").result_rows}
        failing = client.command("SELECT count() FROM (SELECT DISTINCT queue, interval_start FROM "
                                 "contact_objective_intervals FINAL WHERE customer = 'acme' AND NOT met)")
    assert objectives and failing > 0
    (acme, acme_hash), (globex, globex_hash) = new_token(), new_token()
    portal, base = start_portal(run, f"  - {{name: acme, customer: acme, token_sha256: \"{acme_hash}\"}}\n"
                                     f"  - {{name: globex, customer: globex, token_sha256: \"{globex_hash}\"}}\n")
    try:
        log_in(browser, base, acme)
        follow(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Contact centre"))
        assert browser.current_url.startswith(f"{base}/c/acme/contacts")
        shown = {(r["objective"], r["queue"], r["measure"], "true" if r["month_met"] == "yes" else "false"):
                 (int(r["intervals"]), int(r["intervals_met"])) for r in table_rows(browser, "contact_objectives")}
        assert shown == objectives
        assert {r["queue"] for r in table_rows(browser, "contact_queues")} == {"support", "sales"}
        bars = browser.find_elements(By.CSS_SELECTOR, "figure svg rect.bar")
        assert sum(int(b.find_element(By.TAG_NAME, "title").get_attribute("textContent").split(": ")[1])
                   for b in bars) == failing
        visible(browser, "table[data-table='contact_objectives']", "contacts.png")
        browser.save_screenshot(str(SHOTS / "contacts-page.png"))
        assert urllib_status(base, "/c/acme/contacts", globex) == 404  # another customer's queues: as if none
        assert "acme" not in urllib_body(base, "/c/globex/contacts", globex)
    finally:
        portal.terminate()
        portal.wait(10)
