"""The portal's HTTP server: routes, log in, access checks, CSV export.

Pages (each a stable URL; `?month=YYYY-MM` where a month applies, `?csv=TABLE` for any table):
  /customers                                 analysts: every customer
  /c/CUSTOMER                                a customer's contracts this month at a glance
  /c/CUSTOMER/contract/CONTRACT/YYYY-MM      charts, breaches, instances at risk, MTTA/MTTR
  /c/CUSTOMER/report/YYYY-MM                 the printable monthly report
  /c/CUSTOMER/contacts                       a customer's contact-centre queues and their service levels
  /i/INSTANCE                                an SLA instance's audit trail
  /olas                                      analysts: internal teams' OLAs, hand-offs, where breached SLAs' time went
Anything a user may not see answers 404, exactly like what does not exist.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from schemas.errors import UserError
from streams.portal import pages, queries
from streams.portal.access import User, Users
from streams.portal.queries import Db, Table

log = logging.getLogger(__name__)
COOKIE = "slastream_token"
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class NotFound(Exception):
    """Unknown, or not this user's: the same answer either way."""


class BadRequest(Exception):
    """A request no page can answer (a month that is not one); the message says why."""


@dataclass
class View:
    """A page: its title and its parts in order (HTML, or tables that also export as CSV)."""

    title: str
    parts: list[str | Table] = field(default_factory=list)
    links: dict[str, dict[int, str]] = field(default_factory=dict)  # table name -> column -> URL prefix
    as_of: datetime | None = None  # the last instant the data knows of (the route sets it)


def parse_month(text: str | None) -> date:
    if not text:
        today = datetime.now(timezone.utc).date()
        return today.replace(day=1)
    m = MONTH.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1970 <= int(m.group(1)) <= 2999:
        raise BadRequest(f"{text[:20]!r} is not a month: use YYYY-MM, from 1970-01 to 2999-12")
    return date(int(m.group(1)), int(m.group(2)), 1)


def _month_end(month: date) -> date:
    return date.fromordinal(_shift(month, 1).toordinal() - 1)


def _shift(month: date, by: int) -> date:
    n = month.year * 12 + month.month - 1 + by
    return date(n // 12, n % 12 + 1, 1)


def customers_view(db: Db, user: User, month: date) -> View:
    if user.role != "analyst":
        raise NotFound()
    return View(f"Customers, {month:%B %Y}", [
        queries.customers(db, month), f"<p><a href='/olas?month={month:%Y-%m}'>Internal teams (OLAs)</a></p>"],
        {"customers": {0: "/c/"}})


def olas_view(db: Db, user: User, month: date) -> View:
    """Internal teams' OLAs: for analysts; a customer never sees internal groups (404)."""
    if user.role != "analyst":
        raise NotFound()
    nav = (f"<p class='noprint'><a href='/olas?month={_shift(month, -1):%Y-%m}'>← {_shift(month, -1):%B}</a> · "
           f"<a href='/olas?month={_shift(month, 1):%Y-%m}'>{_shift(month, 1):%B} →</a></p>")
    return View(f"Internal teams (OLAs): {month:%B %Y}", [
        nav, queries.ola_attainment(db, month), queries.breached_split(db, month), queries.group_handoffs(db)],
        {"time_split": {0: "/i/"}})


def customer_view(db: Db, user: User, customer: str, month: date) -> View:
    known = _check_customer(db, user, customer)
    base = f"/c/{quote(customer, safe='')}"
    nav = (f"<p class='noprint'><a href='{base}?month={_shift(month, -1):%Y-%m}'>← {_shift(month, -1):%B}</a> · "
           f"<a href='{base}?month={_shift(month, 1):%Y-%m}'>{_shift(month, 1):%B} →</a> · "
           f"<a href='{base}/report/{month:%Y-%m}'>printable monthly report</a></p>")
    contract_links = "".join(f"<li><a href='{base}/contract/{quote(k, safe='')}/{month:%Y-%m}'>{pages.cell(k)}</a></li>"
                             for k in queries.contracts(db, customer))
    empty = "" if known else (f"<p class='empty'>No data for {pages.cell(customer)} yet: tickets, incidents and "
                              "probe results show here once the first of them is processed.</p>")
    sla, probes = queries.sla_month(db, customer, month), queries.probes_month(db, customer, month)
    contacts = queries.contact_objectives(db, customer, month)
    link = (f"<p><a href='{base}/contacts?month={month:%Y-%m}'>Contact centre: queues and service levels</a></p>"
            if queries.has_contacts(db, customer) else "")
    return View(f"{customer}: {month:%B %Y}", [
        nav, empty, _summary(sla, probes, contacts, month), f"<h2>Contracts</h2><ul>{contract_links}</ul>", link, sla,
        probes])


def _summary(sla: Table, probes: Table, contacts: Table, month: date) -> str:
    credits = [r[t.columns.index("credit_pct")] or 0.0 for t in (probes, contacts) for r in t.rows]
    return pages.summary(pages.commitments(sla, probes, contacts), month, max(credits, default=0.0))


def contract_view(db: Db, user: User, customer: str, contract: str, month: date, as_of: datetime | None) -> View:
    _check_customer(db, user, customer)
    if not queries.contract_of(db, customer, contract):
        raise NotFound()
    days = queries.attainment_by_day(db, contract, month)
    goal = queries.objective(db, contract)
    breaches = queries.breaches_by_day(db, contract, month)
    strip, figures = "", []
    if goal is not None:  # a contract with a probe objective: availability and its error budget
        burn: list[tuple[date, float | None]] = []
        total = bad = 0
        for day, results, good, _ in days.rows:  # error budget left, cumulative over the month
            total, bad = total + results, bad + results - good
            burn.append((day, None if not total else 100 * (1 - bad / total / (1 - goal))))
        last = _month_end(month)
        if as_of is not None and as_of.date() < last:
            last = max(as_of.date(), month)  # the strip ends with the latest day the data knows of
        strip = pages.day_strip("Availability per day, last 90 days", queries.availability_days(db, contract, last),
                                100 * goal)
        figures.append(pages.burn_down(f"Error budget left in {month:%B %Y}", burn, _month_end(month).day))
    figures.append(pages.bar_chart("SLA breaches per day", [(r[0], r[1]) for r in breaches.rows]))
    charts = strip + "<div class='charts'>" + "".join(figures) + "</div>"
    instance = {0: "/i/"}
    return View(f"{contract} ({customer}): {month:%B %Y}", [
        charts, queries.sla_month(db, customer, month, contract), queries.probes_month(db, customer, month, contract),
        queries.response_times(db, contract, month), queries.breach_lifecycles(db, contract, month),
        queries.at_risk(db, contract, as_of), days, breaches,
    ], {"breaches": instance, "at_risk": instance})


def contacts_view(db: Db, user: User, customer: str, month: date) -> View:
    """A customer's queues: the month's contact figures, each objective against its target, and
    the intervals that missed one (a chart per day, then the list)."""
    _check_customer(db, user, customer)
    base = f"/c/{quote(customer, safe='')}"
    nav = (f"<p class='noprint'><a href='{base}?month={month:%Y-%m}'>← {pages.cell(customer)}</a> · "
           f"<a href='{base}/contacts?month={_shift(month, -1):%Y-%m}'>← {_shift(month, -1):%B}</a> · "
           f"<a href='{base}/contacts?month={_shift(month, 1):%Y-%m}'>{_shift(month, 1):%B} →</a></p>")
    chart = pages.bar_chart("15-minute intervals that missed an objective, per day",
                            queries.failing_intervals_by_day(db, customer, month))
    return View(f"{customer}: contact centre, {month:%B %Y}", [
        nav, queries.contact_objectives(db, customer, month), f"<div class='charts'>{chart}</div>",
        queries.contact_queues(db, customer, month), queries.failing_intervals(db, customer, month)])


def report_view(db: Db, user: User, customer: str, month: date) -> View:
    _check_customer(db, user, customer)
    sla, probes = queries.sla_month(db, customer, month), queries.probes_month(db, customer, month)
    contacts = queries.contact_objectives(db, customer, month)
    parts: list[str | Table] = [
        f"<div class='doc'><header class='report'><p><strong>Service level report</strong></p>"
        f"<p>Customer: <strong>{pages.cell(customer)}</strong><br>Period: {month:%d %B %Y} to "
        f"{_month_end(month):%d %B %Y} (UTC)<br>Prepared: {datetime.now(timezone.utc):%d %B %Y %H:%M} UTC</p>"
        "<p class='noprint muted'>Print this page or save it as PDF to file it.</p></header>",
        _summary(sla, probes, contacts, month)]
    sections = [sla, probes] + ([contacts] if contacts.rows else [])  # contact objectives where the customer has them
    parts += [_numbered(t, n) for n, t in enumerate(sections, start=1)]
    for n, contract in enumerate(queries.contracts(db, customer), start=len(sections) + 1):
        parts += [f"<section class='contract'><h2>{n}. Contract {pages.cell(contract)}</h2>",
                  _numbered(queries.response_times(db, contract, month), n, 1),
                  _numbered(queries.breach_lifecycles(db, contract, month), n, 2), "</section>"]
    parts.append(f"<footer><p class='muted'>Figures as recorded by slastream for {pages.cell(customer)}; times in "
                 "UTC. Service credits are a share of the monthly fee of the service they name.</p></footer></div>")
    return View(f"{customer}: monthly report, {month:%B %Y}", parts)


def _numbered(t: Table, *number: int) -> Table:
    return replace(t, title=".".join(map(str, number)) + ". " + t.title)


def instance_view(db: Db, user: User, instance: str) -> View:
    owner = queries.instance_owner(db, instance)
    if owner is None or not user.may_see(owner[0]):
        raise NotFound()
    customer, kind, entity = owner
    current = queries.instance_current(db, instance)
    inputs, lifecycle = queries.instance_inputs(db, customer, kind, entity), queries.instance_lifecycle(db, instance)
    statuses = queries.instance_status(db, instance)
    return View(f"SLA instance {instance}", [
        f"<p>{pages.cell(kind)} <strong>{pages.cell(entity)}</strong> of customer "
        f"<a href='/c/{quote(customer, safe='')}'>{pages.cell(customer)}</a>.</p>",
        _instance_summary(current) if current else "",
        pages.timeline(_moments(kind, current, inputs, lifecycle, statuses)),
        "<p class='muted'>Below: every input event, every lifecycle event it caused and every status row received.</p>",
        inputs, lifecycle, statuses])


_CLOCK = {"running": "the clock runs", "paused": "the clock is paused", "stopped": "the clock stopped"}


def _instance_summary(c: dict[str, Any]) -> str:
    """What a customer asks first: the target, whether it was kept, and where the time went."""
    target = pages.duration(c["target_s"]) if c["target_s"] is not None else "none for this priority"
    if c["state"] == "stopped":
        verdict = pages.outcome_words(c["outcome"], c["elapsed_s"], c["target_s"])
    else:
        verdict = "breached, still open" if c["breached"] else _CLOCK[c["state"]]
        if c["deadline"] is not None and not c["breached"]:
            verdict += f"; deadline {c['deadline']:%Y-%m-%d %H:%M:%S} UTC"
    end = c["stopped_at"] or c["as_of"]
    span = (f"from {c['started_at']:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC" if c["stopped_at"] else
            f"since {c['started_at']:%Y-%m-%d %H:%M:%S} UTC, as of {end:%Y-%m-%d %H:%M:%S} UTC")
    still = max((end - c["started_at"]).total_seconds() - c["elapsed_s"], 0.0)
    return (f"<ul class='facts' data-instance-summary><li>{pages.cell(c['level'])} {pages.cell(c['metric'])}, "
            f"target <strong>{target}</strong>: <strong>{pages.cell(verdict)}</strong></li>"
            f"<li>On the clock: {pages.duration(c['elapsed_s'])} {span}</li>"
            f"<li>Time the clock stood still (paused, or outside business hours): {pages.duration(still)}</li></ul>")


def _said(r: dict[str, Any]) -> str:
    """A lifecycle event in words."""
    target = pages.duration(r["target_s"]) if r["target_s"] is not None else "none"
    if r["type"] == "warning":
        return (f"Warning: {pages.percent(100 * (r['threshold'] or 0))} of the target of {target} used "
                f"({pages.duration(r['elapsed_s'])} on the clock)")
    if r["type"] == "breached":
        return f"Breached: the target of {target} is used up"
    if r["type"] in ("met", "missed"):
        words = pages.outcome_words(r["type"], r["elapsed_s"], r["target_s"])
        return words[0].upper() + words[1:]  # Met with 3 min to spare; Missed by 4 min
    return "Correction: a late update changed the history; an earlier notice no longer holds"


def _moments(kind: str, current: dict[str, Any] | None, inputs: Table, lifecycle: Table,
             statuses: Table) -> list[pages.Moment]:
    """The instance's timeline: each input event with the clock's state after it, each
    lifecycle event in words, and the deadline while it lies ahead."""
    after = {}  # instant -> the state of the clock as of it (the latest status row of that instant)
    for r in sorted((dict(zip(statuses.columns, row)) for row in statuses.rows), key=lambda r: r["version"]):
        after[r["as_of"]] = r["state"]
    out = []
    for row in inputs.rows:
        r = dict(zip(inputs.columns, row))
        reply = ", public reply" if r["public_reply"] else ""
        clock = f"; {_CLOCK[after[r['occurred_at']]]}" if r["occurred_at"] in after else ""
        level = "severity" if kind == "incident" else "priority"
        out.append(pages.Moment(r["occurred_at"], "input", f"{kind.capitalize()} update {r['event_id']} from "
                                f"{r['source']}: status {r['status']}, {level} {r['level']}{reply}{clock}"))
    for row in lifecycle.rows:
        r = dict(zip(lifecycle.columns, row))
        out.append(pages.Moment(r["at"], r["type"], _said(r)))
    if current and current["deadline"] is not None and not current["breached"] and current["state"] != "stopped":
        out.append(pages.Moment(current["deadline"], "deadline",
                                f"Deadline: the target of {pages.duration(current['target_s'] or 0)} is used up "
                                "at this time if the clock keeps running"))
    return out


def _check_customer(db: Db, user: User, customer: str) -> bool:
    """Whether the customer has data; NotFound unless the user may see it and it is known,
    or it is the user's own customer (which has a page from the first login on)."""
    if not user.may_see(customer):
        raise NotFound()
    known = queries.known_customer(db, customer)
    if not known and customer != user.customer:
        raise NotFound()
    return known


def route(db: Db, user: User, path: str, query: dict[str, list[str]]) -> View:
    """The view at `path`, with the time its data is as of; NotFound for anything else."""
    as_of = queries.data_as_of(db)
    view = _view(db, user, path, query, as_of)
    view.as_of = as_of
    return view


def _view(db: Db, user: User, path: str, query: dict[str, list[str]], as_of: datetime | None) -> View:
    month = parse_month(query.get("month", [None])[0])
    parts = [unquote(p) for p in path.strip("/").split("/")]
    match parts:
        case ["customers"]:
            return customers_view(db, user, month)
        case ["olas"]:
            return olas_view(db, user, month)
        case ["c", customer]:
            return customer_view(db, user, customer, month)
        case ["c", customer, "contract", contract, when]:
            return contract_view(db, user, customer, contract, parse_month(when), as_of)
        case ["c", customer, "contacts"]:
            return contacts_view(db, user, customer, month)
        case ["c", customer, "report", when]:
            return report_view(db, user, customer, parse_month(when))
        case ["i", instance]:
            return instance_view(db, user, instance)
    raise NotFound()


def as_csv(t: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(t.columns)
    writer.writerows([v.isoformat() if isinstance(v, (date, datetime)) else ("" if v is None else v) for v in r]
                     for r in t.rows)
    return out.getvalue().encode()


def handler(db: Db, users: Users) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/login":
                return self._send(200, pages.login())
            if url.path == "/logout":
                return self._redirect("/login", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
            user = users.find(self._token())
            if user is None:
                return self._redirect("/login")
            if url.path == "/":
                return self._redirect("/customers" if user.role == "analyst" else f"/c/{quote(user.customer or '')}")
            query = parse_qs(url.query)
            try:
                view = route(db, user, url.path, query)
            except NotFound:
                return self._send(404, pages.page("Not found", "<p>There is no such page.</p>", user.name))
            except BadRequest as exc:
                return self._send(400, pages.page("Bad request", f"<p>{pages.cell(str(exc))}</p>", user.name))
            except Exception:  # a query ClickHouse refused: the SQL and the reason go to the log only
                log.exception("portal page %s failed", url.path)
                return self._send(500, pages.page("Something went wrong", "<p>This page could not be read "
                                                  "from the database. The error is in the portal's log.</p>", user.name))
            wanted = query.get("csv", [None])[0]
            if wanted is not None:
                table = next((p for p in view.parts if isinstance(p, Table) and p.name == wanted), None)
                if table is None:
                    return self._send(404, pages.page("Not found", "<p>There is no such table.</p>", user.name))
                return self._send(200, as_csv(table), "text/csv; charset=utf-8",
                                  {"Content-Disposition": f"attachment; filename={table.name}.csv"})
            keep = "&".join(f"{k}={quote(v[0])}" for k, v in query.items() if k == "month")
            body = (f"<p class='muted asof'>Data as of {view.as_of:%Y-%m-%d %H:%M:%S} UTC (the latest event "
                    "received).</p>" if view.as_of is not None else "<p class='muted asof'>No data received yet.</p>")
            body += "".join(p if isinstance(p, str) else pages.table(
                p, f"{url.path}?{keep + '&' if keep else ''}csv={p.name}", view.links.get(p.name))
                for p in view.parts)
            self._send(200, pages.page(view.title, body, user.name))

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/login":
                return self._send(404, pages.page("Not found", ""))
            length = min(int(self.headers.get("Content-Length") or 0), 4096)
            token = parse_qs(self.rfile.read(length).decode(errors="replace")).get("token", [""])[0]
            if users.find(token) is None:
                return self._send(401, pages.login("That token is not valid."))
            self._redirect("/", f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                return auth[7:]
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
            return morsel.value if morsel else None

        def _redirect(self, to: str, cookie: str | None = None) -> None:
            self.send_response(303)
            self.send_header("Location", to)
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, code: int, body: bytes, content_type: str = "text/html; charset=utf-8",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


def serve(db: Db, users: Users, bind: str, port: int, background: bool = False) -> ThreadingHTTPServer:
    """Serve the portal (in a daemon thread with `background`, e.g. inside the sink); a port
    that cannot be had is one UserError naming the setting."""
    try:
        server = ThreadingHTTPServer((bind, port), handler(db, users))
    except OSError as exc:
        raise UserError(f"cannot serve the portal on {bind}:{port} ({exc.strerror}): set PORTAL_PORT "
                        "(or `slastream portal --port`) to a free port") from None
    if background:
        threading.Thread(target=server.serve_forever, name="portal", daemon=True).start()
    return server

