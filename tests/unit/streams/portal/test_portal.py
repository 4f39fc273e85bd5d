"""Portal access and routing over a small embedded ClickHouse: who sees what, users file checks."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import quote
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from schemas.errors import UserError
from sinks.migrate import migrate
from sinks.rows import COLUMNS
from streams.portal.access import User, Users, hash_token, load_users, new_token
from streams.portal.queries import Db, Table
from streams.portal.server import BadRequest, NotFound, as_csv, route, serve
from tests.conftest import clickhouse

NOW = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)


def status(instance: str, customer: str, contract: str, outcome: str | None, breached: bool) -> dict:
    return {"instance_id": instance, "version": 3, "kind": "ticket", "entity_id": instance.split(":")[1],
            "contract_id": contract, "customer": customer, "service": "checkout", "metric": "response", "level": "P1",
            "state": "stopped" if outcome else "running", "started_at": NOW, "stopped_at": NOW if outcome else None,
            "target_s": 900.0, "elapsed_s": 60.0, "deadline": None, "breached": breached, "outcome": outcome,
            "as_of": NOW}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    with clickhouse(tmp_path_factory.mktemp("portal")) as client:
        list(migrate(client))
        rows = [status("ticket:A1:gold:response", "acme", "gold", "met", False),
                status("ticket:A2:gold:response", "acme", "gold", "missed", True),
                status("ticket:B1:std:response", "globex", "std", None, True)]
        client.insert("sla_instance_status", [[r[c] for c in COLUMNS["sla_instance_status"]] for r in rows],
                      column_names=list(COLUMNS["sla_instance_status"]))
        met = {**rows[0], "event_id": "e1", "version": 1, "type": "met", "at": NOW, "threshold": None, "corrects": None}
        client.insert("breaches", [[met[c] for c in COLUMNS["breaches"]]], column_names=list(COLUMNS["breaches"]))
        yield Db(client)


ACME = User(name="a", token_sha256=hash_token("x"), customer="acme")
ANALYST = User(name="n", token_sha256=hash_token("y"), role="analyst")


def test_a_customer_sees_its_month_and_instances(db) -> None:
    view = route(db, ACME, "/c/acme", {"month": ["2026-11"]})
    (sla,) = [p for p in view.parts if not isinstance(p, str) and p.name == "sla"]
    assert [(r[0], r[4], r[5], r[6], r[7]) for r in sla.rows] == [("gold", 2, 1, 1, 50.0)]
    assert b"gold,response,P1,900.0,2,1,1,50.0,1,0" in as_csv(sla)
    assert route(db, ACME, "/i/ticket%3AA2%3Agold%3Aresponse", {}).title == "SLA instance ticket:A2:gold:response"
    (glance,) = [p for p in view.parts if isinstance(p, str) and "data-summary" in p]
    assert "gold: P1 response within 15 min: 1 of 2 missed" in glance and "No service credit owed." in glance


def test_an_instance_page_states_target_outcome_and_a_timeline(db) -> None:
    parts = route(db, ACME, "/i/ticket%3AA1%3Agold%3Aresponse", {}).parts
    (facts,) = [p for p in parts if isinstance(p, str) and "data-instance-summary" in p]
    assert "target <strong>15 min</strong>: <strong>met with 14 min to spare</strong>" in facts
    assert "On the clock: 1 min" in facts
    (trail,) = [p for p in parts if isinstance(p, str) and "class='timeline'" in p]
    assert "Met with 14 min to spare" in trail


@pytest.mark.parametrize("path", ["/c/globex", "/c/globex/contacts", "/i/ticket:B1:std:response",
                                  "/c/acme/contract/std/2026-11",
                                  "/c/globex/report/2026-11", "/customers", "/c/nobody", "/c/acme' OR '1'='1",
                                  "/c/acme?x", "/etc/passwd"])
def test_anything_not_the_customers_own_is_not_found(db, path: str) -> None:
    with pytest.raises(NotFound):
        route(db, ACME, path, {})


def test_an_analyst_sees_every_customer(db) -> None:
    view = route(db, ANALYST, "/customers", {"month": ["2026-11"]})
    (customers,) = [p for p in view.parts if isinstance(p, Table)]
    assert [(r[0], r[1], r[2]) for r in customers.rows] == [("acme", 2, 1), ("globex", 1, 1)]
    assert "href='/olas?month=2026-11'" in "".join(p for p in view.parts if isinstance(p, str))
    assert route(db, ANALYST, "/c/globex/contract/std/2026-11", {}).title.startswith("std (globex)")


def test_tokens_are_found_by_their_hash_only(tmp_path: Path) -> None:
    token, digest = new_token()
    users = Users({digest: User(name="a", token_sha256=digest, customer="acme")})
    assert users.find(token).customer == "acme" and users.find(digest) is None and users.find(None) is None


@pytest.mark.parametrize("text, words", [
    ("users:\n  - {name: a, token_sha256: abc, customer: acme}\n", ("users.0.token_sha256",)),
    ("users:\n  - {name: a, token_sha256: \"" + "0" * 64 + "\"}\n", ("needs `customer`",)),
    ("users:\n  - {name: a, customer: acme, token_sha256: " + "0" * 64 + "}\n", ("quote",)),
    ("users: [\n", ("not YAML",)),
])
def test_a_bad_users_file_names_the_entry_and_field(tmp_path: Path, text: str, words: tuple[str, ...]) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_users(path)
    assert all(w in str(err.value) for w in words)


def failing_page(db, path: str) -> tuple[int, str]:
    """The status and body of a page the portal refuses, asked over HTTP as ACME."""
    server = serve(db, Users({ACME.token_sha256: ACME}), "127.0.0.1", 0, background=True)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}{path}",
                                         headers={"Authorization": "Bearer x"})
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=30)
        return failed.value.code, failed.value.read().decode()
    finally:
        server.shutdown()


def test_a_page_whose_query_fails_is_a_500_page_and_the_sql_only_in_the_log(db, caplog) -> None:
    db.client.command("RENAME TABLE sla_instance_status TO sla_instance_status_away")  # every page's query fails
    try:
        code, body = failing_page(db, "/c/acme")
    finally:
        db.client.command("RENAME TABLE sla_instance_status_away TO sla_instance_status")
    assert code == 500 and "could not be read" in body
    assert "SELECT" not in body and "Exception" not in body
    assert "portal page /c/acme failed" in caplog.text and "SELECT" in caplog.text


@pytest.mark.parametrize("month", ["2026-13", "9999-12", "0000-01", "26-11", "2026-11' OR 1=1"])
def test_a_month_that_is_not_one_is_a_400_page_in_words(db, month: str) -> None:
    with pytest.raises(BadRequest):
        route(db, ACME, "/c/acme", {"month": [month]})
    with pytest.raises(BadRequest):
        route(db, ACME, f"/c/acme/report/{month}", {})
    code, body = failing_page(db, f"/c/acme?month={quote(month)}")
    assert code == 400 and "is not a month: use YYYY-MM" in body


def test_a_customer_without_data_yet_gets_its_page_with_an_empty_state(db) -> None:
    newcomer = User(name="i", token_sha256=hash_token("z"), customer="initech")
    view = route(db, newcomer, "/c/initech", {"month": ["2026-11"]})
    assert any(isinstance(p, str) and "No data for initech yet" in p for p in view.parts)
    with pytest.raises(NotFound):  # another customer's page, with or without data: still nobody's business
        route(db, newcomer, "/c/acme", {})
    with pytest.raises(NotFound):  # an analyst asking for a customer nobody knows
        route(db, ANALYST, "/c/initech", {})


def test_an_incidents_timeline_names_its_severity() -> None:
    from streams.portal.queries import Table
    from streams.portal.server import _moments

    inputs = Table("inputs", "", ["occurred_at", "event_id", "source", "status", "level", "public_reply"],
                   [(NOW, "i-1", "pager", "triggered", "SEV1", False)])
    (moment,) = _moments("incident", None, inputs, Table("lifecycle", "", ["type"], []), Table("status", "", ["version"], []))
    assert moment.text == "Incident update i-1 from pager: status triggered, severity SEV1"


def test_a_customer_sees_its_queues_each_objective_and_the_failing_intervals(db) -> None:
    """Two intervals of acme's support queue (voice). 10:00: 10 offered, 9 answered, 7 within 20 s
    (service level 7 / 10 = 70 %: missed), waits 90 s (ASA 10 s). 10:15: 4 of 4 within 20 s,
    waits 20 s (ASA 5 s), met. The month: 11 of 14 within (78.57 %), ASA 110 / 13 = 8.5 s."""
    from sinks.clickhouse import insert_json
    from sinks.rows import CONTACT_INTERVAL_COLUMNS

    def record(minute: int, offered: int, answered: int, within: int, wait: float, met: bool) -> bytes:
        counts = {"channel": "voice", "offered": offered, "answered": answered, "abandoned": offered - answered,
                  "wait_answered_s": wait, "handle_s": 60.0 * answered, "fcr_recorded": 0, "fcr_resolved": 0,
                  "short_le_s": [5.0], "short_abandoned": [0], "within_le_s": [20.0], "answered_within": [within]}
        judged = {"contract_id": "care", "objective": "support", "channel": None, "measure": "service_level",
                  "num": within, "den": offered, "value": within / offered, "target": 0.8, "met": met}
        return orjson.dumps({"customer": "acme", "queue": "support", "interval_start": f"2026-11-10 10:{minute:02d}:00",
                             "version": 1, "channels": [counts], "objectives": [judged]})

    with db.lock:
        insert_json(db.client, "contact_intervals_in", list(CONTACT_INTERVAL_COLUMNS),
                    b"\n".join([record(0, 10, 9, 7, 90.0, False), record(15, 4, 4, 4, 20.0, True)]))
    month = "".join(p for p in route(db, ACME, "/c/acme", {"month": ["2026-11"]}).parts if isinstance(p, str))
    assert "Contact centre" in month
    # the month at a glance counts the objective among the commitments (missed: 78.57 % against 80 %)
    assert ("<span class='badge missed'>missed</span>care: queue support, service level 80 %: 78.57 % this month, "
            "1 of 2 intervals met") in month
    view = route(db, ACME, "/c/acme/contacts", {"month": ["2026-11"]})
    tables = {p.name: p for p in view.parts if isinstance(p, Table)}
    (objective,) = [dict(zip(tables["contact_objectives"].columns, r)) for r in tables["contact_objectives"].rows]
    assert (objective["month_figure"], objective["objective_figure"], objective["month_met"]) == ("78.57 %", "80 %", False)
    assert isinstance(objective["month_met"], bool)  # shown as yes or no
    assert (objective["intervals"], objective["intervals_met"], objective["intervals_met_pct"]) == (2, 1, 50.0)
    (queue,) = [dict(zip(tables["contact_queues"].columns, r)) for r in tables["contact_queues"].rows]
    assert (queue["offered"], queue["answered"], queue["abandoned"], round(queue["asa_s"], 2)) == (14, 13, 1, 8.46)
    assert [(r[0].minute, r[1], r[4]) for r in tables["failing_intervals"].rows] == [(0, "support", "70 %")]
    (chart,) = [p for p in view.parts if isinstance(p, str) and "<svg" in p]
    assert "2026-11-10: 1</title>" in chart
    with pytest.raises(NotFound):
        route(db, User(name="g", token_sha256=hash_token("z"), customer="globex"), "/c/acme/contacts", {})
