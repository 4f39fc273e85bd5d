"""HTML of the portal's pages: server-side, no JavaScript, charts as inline SVG, a print stylesheet."""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any, NamedTuple, Sequence
from urllib.parse import quote

from streams.portal.queries import Table

STYLE = """
body{font:14px system-ui,sans-serif;margin:0;color:#1d1d1f}
header{background:#1f3a5f;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff}main{padding:16px 24px;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left}
th{background:#f3f5f8}td.n{text-align:right}
.bad{color:#b00020;font-weight:600}.ok{color:#137333}.muted{color:#666}
.csv{font-size:12px;margin-left:8px}.charts{display:flex;flex-wrap:wrap;gap:24px}
svg text{font-size:10px;fill:#444}.line{fill:none;stroke:#1f6feb;stroke-width:2}.bar{fill:#d1495b}
.goal{stroke:#137333;stroke-dasharray:4 3}.even{stroke:#999;stroke-dasharray:2 3}.axis{stroke:#bbb}
.summary{border:1px solid #d0d7de;border-radius:6px;padding:8px 16px;margin:8px 0 16px;max-width:900px}
.summary li{margin:4px 0}.badge{display:inline-block;min-width:64px;padding:1px 6px;margin-right:8px;border-radius:4px;
 color:#fff;text-align:center;font-size:12px}.badge.met{background:#137333}.badge.missed{background:#b00020}
.badge.open{background:#8a6d00}.day.met{fill:#2da44e}.day.missed{fill:#d1495b}.day.none{fill:#d0d7de}
ol.timeline{list-style:none;padding:0;border-left:3px solid #d0d7de;margin:8px 0 20px 8px}
ol.timeline li{position:relative;padding:4px 0 8px 16px}ol.timeline li::before{content:"";position:absolute;left:-8px;
 top:8px;width:12px;height:12px;border-radius:6px;background:#8c959f}
ol.timeline li.input::before{background:#1f6feb}ol.timeline li.warning::before{background:#d4a72c}
ol.timeline li.breached::before,ol.timeline li.missed::before{background:#b00020}
ol.timeline li.met::before{background:#137333}ol.timeline time{font-weight:600;margin-right:8px}
.doc header.report{display:block;background:none;color:inherit;padding:0;border-bottom:2px solid #1f3a5f}
@page{margin:16mm}
@media print{body>header,.csv,.noprint{display:none}main{padding:0}body{font-size:11px}
 table{page-break-inside:avoid}h2{page-break-after:avoid}section.contract{page-break-before:always}}
"""


def page(title: str, body: str, user: str | None = None) -> bytes:
    nav = (f"<header><strong>slastream SLA portal</strong><a href='/'>home</a>"
           f"<span class='muted'>{html.escape(user)}</span><a href='/logout'>log out</a></header>" if user else
           "<header><strong>slastream SLA portal</strong></header>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{nav}<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
            ).encode()


def cell(value: Any) -> str:
    if value is None:
        return "<span class='muted'>–</span>"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return html.escape(str(value))


# Words for the columns the pages show; CSV exports keep the column names and raw values.
HEADERS = {
    "contract": "Contract", "customer": "Customer", "service": "Service", "metric": "Measure", "level": "Priority or severity",
    "kind": "Kind", "target_s": "Target", "instances": "SLA instances", "sla_instances": "SLA instances",
    "met": "Met", "missed": "Missed", "met_pct": "Met on time", "breached": "Breached", "open": "Still open",
    "results": "Probe results", "good": "Good results", "availability_pct": "Availability",
    "objective_pct": "Objective", "latency_ok_pct": "Fast enough", "budget_left_pct": "Error budget left",
    "credit_pct": "Service credit", "highest_credit_pct": "Highest service credit", "day": "Day",
    "breaches": "Breaches", "instance": "SLA instance", "type": "What happened", "at": "When (UTC)",
    "elapsed_s": "Time on the clock", "threshold": "Warned at", "corrects": "Corrects", "deadline": "Deadline (UTC)",
    "stopped": "Closed", "mean_elapsed_s": "Mean time", "version": "Version", "state": "Clock", "outcome": "Outcome",
    "as_of": "As of (UTC)", "occurred_at": "When (UTC)", "event_id": "Event", "source": "From", "status": "Status",
    "public_reply": "Public reply", "team": "Team", "attainment_pct": "Attainment", "handed_on": "Handed on",
    "came_back": "Came back", "tickets": "Tickets", "held_s": "Time with the team", "share_pct": "Share of the time",
    "queue": "Queue", "channel": "Channel", "offered": "Offered", "answered": "Answered", "abandoned": "Abandoned",
    "asa_s": "Average speed of answer", "aht_s": "Average handle time", "fcr_pct": "First-contact resolution",
    "objective": "Objective", "measure": "Measure", "month_figure": "This month", "objective_figure": "Objective",
    "month_met": "Month met", "intervals": "Intervals judged", "intervals_met": "Intervals met",
    "intervals_met_pct": "Share of intervals met", "interval_start": "Interval (UTC)", "figure": "Measured",
}


def header(column: str) -> str:
    """A column's name in words."""
    return HEADERS.get(column) or column.replace("_", " ").capitalize()


def duration(seconds: float) -> str:
    """Seconds in the units people use: 45 s, 15 min, 2 h 30 min, 1 d 4 h."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")] if s >= 3600 else [(minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(shown[:2])


def percent(value: float) -> str:
    """99.861 %, 100 %: at most three decimals, none that are zero."""
    return f"{value:,.3f}".rstrip("0").rstrip(".") + " %"


def shown(column: str, value: Any) -> str:
    """A value as a page shows it: durations and percentages in their units, yes/no, words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return cell(value)
    if column.endswith("_s"):
        return duration(value)
    if column.endswith("_pct"):
        return percent(value)
    if column == "threshold":  # a warning's share of the target
        return percent(100 * value) + " of the target"
    return cell(value)


def table(t: Table, csv_path: str | None = None, links: dict[int, str] | None = None) -> str:
    """A table with its CSV link; `links` maps a column to a URL prefix for its values."""
    link = f"<a class='csv' href='{html.escape(csv_path)}'>CSV</a>" if csv_path else ""
    head = "".join(f"<th data-column='{html.escape(c)}'>{html.escape(header(c))}</th>" for c in t.columns)
    rows = []
    for row in t.rows:
        cells = []
        for i, v in enumerate(row):
            text = shown(t.columns[i], v)
            if links and i in links and v is not None:
                text = f"<a href='{html.escape(links[i] + quote(str(v), safe=''))}'>{text}</a>"
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class='n'>{text}</td>" if number else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    empty = "" if t.rows else f"<tr><td colspan='{len(t.columns)}' class='muted'>No data for this yet.</td></tr>"
    return (f"<h2 id='{html.escape(t.name)}'>{html.escape(t.title)}{link}</h2>"
            f"<table data-table='{html.escape(t.name)}'><tr>{head}</tr>{''.join(rows)}{empty}</table>")


def bar_chart(title: str, bars: Sequence[tuple[date, int]]) -> str:
    width, height, top = 420, 120, 18
    if not bars:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p class='muted'>none</p></figure>"
    most = max(v for _, v in bars) or 1
    step = width / max(len(bars), 1)
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + 10}' height='{height + 40}' role='img' "
           f"aria-label='{html.escape(title)}'><text x='0' y='12'>max {most}</text>"]
    for i, (day, v) in enumerate(bars):
        h = height * v / most
        svg.append(f"<rect class='bar' x='{i * step:.1f}' y='{top + height - h:.1f}' width='{max(step - 2, 1):.1f}' "
                   f"height='{h:.1f}'><title>{day:%Y-%m-%d}: {v}</title></rect>")
    svg.append(f"<text x='0' y='{top + height + 16}'>{bars[0][0]:%d %b}</text>"
               f"<text x='{width - 40}' y='{top + height + 16}'>{bars[-1][0]:%d %b}</text></svg>")
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(svg)}</figure>"


def login(error: str = "") -> bytes:
    message = f"<p class='bad'>{html.escape(error)}</p>" if error else ""
    return page("Log in", f"{message}<form method='post' action='/login'><label>Access token "
                          "<input type='password' name='token' id='token' size='50' autofocus></label> "
                          "<button type='submit' id='login'>Log in</button></form>")


class Commitment(NamedTuple):
    """One line of a month's summary: what was promised and whether it was kept."""

    what: str
    state: str  # met, missed or open (nothing decided yet)
    detail: str


_MEASURES = {"service_level": "service level", "asa": "average speed of answer", "abandonment": "abandonment"}


def commitments(sla: Table, probes: Table, contacts: Table | None = None) -> list[Commitment]:
    """The month's commitments from the SLA, probe and contact objective tables of a customer's month."""
    out = []
    for row in sla.rows:
        r = dict(zip(sla.columns, row))
        if r["target_s"] is None:
            continue  # a level without a target promises nothing
        what = f"{r['contract']}: {r['level']} {r['metric']} within {duration(r['target_s'])}"
        # An open instance past its deadline is missed already; it is not counted open.
        broken = max(r["breached"], r["missed"])
        pending = r["open"] - (broken - r["missed"])
        decided = r["met"] + broken
        still = f"; {pending} still open" if pending else ""
        if broken:
            late = f" ({broken - r['missed']} of them still open)" if broken > r["missed"] else ""
            out.append(Commitment(what, "missed", f"{broken} of {decided} missed{late}{still}"))
        elif decided:
            out.append(Commitment(what, "met", f"all {decided} met{still}"))
        else:
            out.append(Commitment(what, "open", f"{pending} open, none decided yet"))
    for row in probes.rows:
        r = dict(zip(probes.columns, row))
        if r["availability_pct"] is None or r["objective_pct"] is None:
            continue
        kept = r["availability_pct"] >= r["objective_pct"]
        credit = r["credit_pct"] or 0
        owed = f"; service credit owed: {percent(credit)} of the monthly fee" if credit else ""
        out.append(Commitment(f"{r['contract']}: {r['service']} available {percent(r['objective_pct'])} of the time",
                              "met" if kept else "missed", f"{percent(r['availability_pct'])} this month{owed}"))
    for r in (dict(zip(contacts.columns, row)) for row in contacts.rows) if contacts is not None else ():
        credit = r["credit_pct"] or 0
        owed = f"; service credit owed: {percent(credit)} of the monthly fee" if credit else ""
        out.append(Commitment(
            f"{r['contract']}: queue {r['queue']}, {_MEASURES[r['measure']]} {r['objective_figure']}",
            "met" if r["month_met"] else "missed",
            f"{r['month_figure']} this month, {r['intervals_met']} of {r['intervals']} intervals met{owed}"))
    return out


def summary(items: Sequence[Commitment], month: date, highest_credit: float) -> str:
    """The month at a glance: each commitment, kept or not, and the credit owed."""
    if not items:
        return ("<section class='summary' data-summary><h2>This month at a glance</h2>"
                f"<p class='muted'>No commitments measured for {month:%B %Y} yet.</p></section>")
    kept = sum(1 for c in items if c.state == "met")
    decided = sum(1 for c in items if c.state != "open")
    credit = (f"Service credit owed: <strong>{percent(highest_credit)}</strong> of the monthly fee." if highest_credit
              else "No service credit owed.")
    lines = "".join(f"<li data-state='{c.state}'><span class='badge {c.state}'>{c.state}</span>"
                    f"{html.escape(c.what)}: {html.escape(c.detail)}</li>" for c in items)
    return (f"<section class='summary' data-summary><h2>This month at a glance</h2>"
            f"<p><strong>{kept} of {decided}</strong> commitments decided in {month:%B %Y} were met. {credit}</p>"
            f"<ul>{lines}</ul></section>")


def day_strip(title: str, days: Sequence[tuple[date, float | None]], goal: float | None) -> str:
    """Availability per day as a strip of bars (the status-page idiom): green on days at or above
    `goal` (percent), red below, grey without results; each bar's tooltip says its figure."""
    width, height, gap = 630, 34, 1
    step = width / max(len(days), 1)
    bars = []
    for i, (day, value) in enumerate(days):
        state = "none" if value is None else ("met" if goal is None or value >= goal else "missed")
        label = "no results" if value is None else percent(value)
        bars.append(f"<rect class='day {state}' data-day='{day:%Y-%m-%d}' x='{i * step:.1f}' y='0' "
                    f"width='{max(step - gap, 1):.1f}' height='{height}'><title>{day:%d %b %Y}: {label}</title></rect>")
    measured = [v for _, v in days if v is not None]
    kept = sum(1 for v in measured if goal is None or v >= goal)
    note = (f"{kept} of {len(measured)} days with results at or above the objective ({percent(goal)})"
            if goal is not None else f"{len(measured)} days with results")
    first, last = (days[0][0], days[-1][0]) if days else (None, None)
    axis = (f"<text x='0' y='{height + 14}'>{first:%d %b}</text>"
            f"<text x='{width - 40}' y='{height + 14}'>{last:%d %b}</text>" if first and last else "")
    return (f"<figure class='strip'><figcaption>{html.escape(title)}: {note}</figcaption>"
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 20}' role='img' "
            f"aria-label='{html.escape(title)}'>{''.join(bars)}{axis}</svg></figure>")


def burn_down(title: str, points: Sequence[tuple[date, float | None]], days_in_month: int) -> str:
    """Error budget left (percent) per day of a month, beside the even spend that uses it up
    exactly at the month's end; 0 % is where the objective is missed. Axes carry their values."""
    width, height, left, top = 420, 160, 40, 10
    known = [(d, v) for d, v in points if v is not None]
    if not known:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p class='muted'>no data</p></figure>"
    low = max(min(0.0, *(v for _, v in known)), -100.0)  # a budget overspent further keeps to the bottom edge
    span = 100 - low

    def x(day: int) -> float:
        return left + (width - left) * (day - 1) / max(days_in_month - 1, 1)

    def y(v: float) -> float:
        return top + height * (100 - max(v, low)) / span

    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + 10}' height='{height + 40}' role='img' "
           f"aria-label='{html.escape(title)}'>",
           f"<line class='axis' x1='{left}' x2='{left}' y1='{top}' y2='{top + height}'/>"]
    for v in sorted({100.0, 50.0, 0.0, low}):
        svg.append(f"<text x='0' y='{y(v) + 3:.1f}'>{v:g} %</text>")
    svg.append(f"<line class='goal' x1='{left}' x2='{width}' y1='{y(0):.1f}' y2='{y(0):.1f}'>"
               "<title>0 %: the objective is missed below this line</title></line>")
    svg.append(f"<line class='even' x1='{x(1):.1f}' y1='{y(100):.1f}' x2='{x(days_in_month):.1f}' y2='{y(0):.1f}'>"
               "<title>spending the budget evenly over the month</title></line>")
    coords = [(x(d.day), y(v), d, v) for d, v in known]
    svg.append("<polyline class='line' points='" + " ".join(f"{a:.1f},{b:.1f}" for a, b, _, _ in coords) + "'/>")
    for a, b, d, v in coords:
        svg.append(f"<circle cx='{a:.1f}' cy='{b:.1f}' r='2.5' fill='#1f6feb'><title>{d:%d %b}: {percent(v)} "
                   "left</title></circle>")
    for day in sorted({1, 8, 15, 22, days_in_month}):
        svg.append(f"<text x='{x(day) - 6:.1f}' y='{top + height + 14}'>{day}</text>")
    svg.append(f"<text x='{left}' y='{top + height + 30}'>day of the month; dashed: objective (0 % left), "
               "dotted: even spend</text></svg>")
    return f"<figure class='burn'><figcaption>{html.escape(title)}</figcaption>{''.join(svg)}</figure>"


def outcome_words(outcome: str | None, elapsed_s: float, target_s: float | None) -> str:
    """met with 3 min to spare, missed by 4 min, or the outcome as it is without a target."""
    if outcome is None:
        return "not decided yet"
    if target_s is None or (elapsed_s > target_s) != (outcome == "missed"):
        return outcome  # no target, or re-targeted since: the margin to today's target says nothing
    if outcome == "missed":
        return f"missed by {duration(elapsed_s - target_s)}"
    return f"met with {duration(target_s - elapsed_s)} to spare"


class Moment(NamedTuple):
    """One entry of an SLA instance's timeline."""

    at: datetime
    kind: str  # input, warning, breached, met, missed, correction or deadline (its CSS class)
    text: str


def timeline(moments: Sequence[Moment]) -> str:
    """An SLA instance's audit trail as a timeline, earliest first."""
    if not moments:
        return "<p class='muted'>No events for this instance yet.</p>"
    items = "".join(f"<li class='{m.kind}' data-kind='{m.kind}'><time>{m.at:%Y-%m-%d %H:%M:%S}</time>"
                    f"{html.escape(m.text)}</li>" for m in sorted(moments, key=lambda m: m.at))
    return f"<h2>Timeline</h2><ol class='timeline'>{items}</ol>"
