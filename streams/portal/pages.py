"""HTML of the portal's pages: server-side, no JavaScript, charts as inline SVG, a print stylesheet."""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any, Sequence
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
.goal{stroke:#137333;stroke-dasharray:4 3}
@media print{header,.csv,.noprint{display:none}main{padding:0}body{font-size:11px}
 table{page-break-inside:avoid}h2{page-break-after:avoid}}
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
    "contract": "Contract", "customer": "Customer", "service": "Service", "metric": "Measure", "level": "Priority",
    "kind": "Kind", "target_s": "Target", "instances": "SLA instances", "sla_instances": "SLA instances",
    "met": "Met", "missed": "Missed", "met_pct": "Met on time", "breached": "Breached", "open": "Still open",
    "results": "Probe results", "good": "Good results", "availability_pct": "Availability",
    "objective_pct": "Objective", "latency_ok_pct": "Fast enough", "budget_left_pct": "Error budget left",
    "credit_pct": "Service credit", "highest_credit_pct": "Highest service credit", "day": "Day",
    "breaches": "Breaches", "instance": "SLA instance", "type": "What happened", "at": "When (UTC)",
    "elapsed_s": "Time on the clock", "threshold": "Warned at", "corrects": "Corrects", "deadline": "Deadline (UTC)",
    "stopped": "Closed", "mean_elapsed_s": "Mean time", "version": "Version", "state": "Clock", "outcome": "Outcome",
    "as_of": "As of (UTC)", "occurred_at": "When (UTC)", "event_id": "Event", "source": "From", "status": "Status",
    "public_reply": "Public reply",
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


def line_chart(title: str, points: Sequence[tuple[date, float | None]], low: float, high: float,
               goal: float | None = None, unit: str = "%") -> str:
    """Values per day as a line, `goal` as a dashed line; days without a value are gaps."""
    width, height, left, top = 420, 160, 44, 18
    known = [(d, v) for d, v in points if v is not None]
    if not known:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p class='muted'>no data</p></figure>"
    span = max(high - low, 1e-9)
    n = max(len(points) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{left + (width - left) * i / n:.1f},{top + height * (1 - (min(max(v, low), high) - low) / span):.1f}"

    coords = [(xy(i, v), d, v) for i, (d, v) in enumerate(points) if v is not None]
    path = " ".join(c for c, _, _ in coords)
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + 10}' height='{height + 40}' role='img' "
           f"aria-label='{html.escape(title)}'>",
           f"<text x='0' y='{top + 4}'>{high:g}{unit}</text><text x='0' y='{top + height}'>{low:g}{unit}</text>",
           f"<polyline class='line' points='{path}'/>"]
    for c, d, v in coords:  # a dot per day, so a single day shows too
        x, y = c.split(",")
        svg.append(f"<circle cx='{x}' cy='{y}' r='2.5' fill='#1f6feb'><title>{d:%Y-%m-%d}: {v:g}{unit}</title></circle>")
    if goal is not None:
        y = xy(0, goal).split(",")[1]
        svg.append(f"<line class='goal' x1='{left}' x2='{width}' y1='{y}' y2='{y}'/>")
    svg.append(f"<text x='{left}' y='{top + height + 16}'>{points[0][0]:%d %b}</text>"
               f"<text x='{width - 40}' y='{top + height + 16}'>{points[-1][0]:%d %b}</text></svg>")
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(svg)}</figure>"


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
