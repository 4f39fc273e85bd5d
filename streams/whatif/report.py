"""A comparison as a terminal table (rich), CSV files and one self-contained HTML page."""

from __future__ import annotations

import csv
import html
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from streams.tools.rows_out import plain
from streams.whatif.compare import Comparison

SLA_HEADER = ["contract", "customer", "metric", "level", "month", "instances", "met %", "met", "missed", "breached",
              "warnings", "mean elapsed s"]
PROBE_HEADER = ["contract", "customer", "service", "month", "availability", "latency attainment",
                "availability budget used", "latency budget used", "credit %"]
CONTACT_HEADER = ["contract", "customer", "objective", "queue", "measure", "month", "intervals", "met", "attainment",
                  "month's value", "target", "month met", "credit %"]
CHANGE_HEADER = ["instance", "contract", "customer", "metric", "level", "current", "proposed", "current deadline",
                 "proposed deadline"]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, datetime):  # to the second where it has seconds (targets under an hour)
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second or value.microsecond else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.strftime("%Y-%m")
    return str(value)


def _pair(current: Any, proposed: Any) -> str:
    return _fmt(current) if current == proposed else f"{_fmt(current)} → {_fmt(proposed)}"


def sla_lines(c: Comparison) -> Iterable[tuple[list[Any], list[Any]]]:
    """(current, proposed) values of each SLA row in SLA_HEADER order."""
    for row in c.sla:
        contract, metric, level, month = row.key
        out = []
        for f in (row.current, row.proposed):
            customer = (row.current or row.proposed).customer  # type: ignore[union-attr]
            out.append([contract, customer, metric, level, month] + (
                [None] * 7 if f is None else
                [f.instances, f.met_pct, f.met, f.missed, f.breached, f.warnings, f.mean_elapsed_s]))
        yield out[0], out[1]


def probe_lines(c: Comparison) -> Iterable[tuple[list[Any], list[Any]]]:
    for row in c.probes:
        out = []
        for f in (row.current, row.proposed):
            out.append(list(row.key) + ([None] * 5 if f is None else [
                f.availability, f.latency, f.availability_budget_used, f.latency_budget_used, f.credit_percent]))
        yield out[0], out[1]


def contact_lines(c: Comparison) -> Iterable[tuple[list[Any], list[Any]]]:
    for row in c.contacts:
        out = []
        for f in (row.current, row.proposed):
            out.append(list(row.key) + ([None] * 7 if f is None else [
                f.intervals, f.met, f.attainment, f.value, f.target, f.month_met, f.credit_percent]))
        yield out[0], out[1]


def change_lines(c: Comparison) -> Iterable[list[Any]]:
    for x in c.changes:
        yield [x.instance_id, x.contract_id, x.customer, x.metric, x.level, x.current, x.proposed,
               x.current_deadline, x.proposed_deadline]


def print_tables(console: Console, c: Comparison, limit: int = 50) -> None:
    """Both policies side by side ("current → proposed" where they differ)."""
    for title, header, lines in (("SLA instances per contract, metric, level and month of start", SLA_HEADER,
                                  sla_lines(c)),
                                 ("Probe SLOs and service credits per month", PROBE_HEADER, probe_lines(c)),
                                 ("Contact objectives and service credits per queue and month", CONTACT_HEADER,
                                  contact_lines(c))):
        table = Table(title=title)
        for name in header:
            table.add_column(name, justify="left" if name in ("contract", "customer", "metric", "level", "service",
                                                               "objective", "queue", "measure") else "right")
        for current, proposed in lines:
            table.add_row(*[_pair(a, b) for a, b in zip(current, proposed)],
                          style="bold" if current != proposed else None)
        console.print(table)
    table = Table(title=f"Instances whose outcome changes: {len(c.changes):,}"
                        + (f" (first {limit}; all in the CSV and HTML)" if len(c.changes) > limit else ""))
    for name in CHANGE_HEADER:
        table.add_column(name)
    for line in list(change_lines(c))[:limit]:
        table.add_row(*map(_fmt, line))
    console.print(table)


def raw_tables(c: Comparison) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(name, header, rows) of sla, probes and changes with plain values: each measure under
    both policies and the difference (what --csv files and --format csv|tsv|json hold)."""
    out = []
    for name, header, keys, lines in (("sla", SLA_HEADER, 5, sla_lines(c)), ("probes", PROBE_HEADER, 4, probe_lines(c)),
                                      ("contacts", CONTACT_HEADER, 6, contact_lines(c))):
        rows = []
        for current, proposed in lines:
            values = []
            for a, b in zip(current[keys:], proposed[keys:]):
                values += [plain(a), plain(b), plain(b - a) if isinstance(a, (int, float)) and not isinstance(a, bool)
                           and isinstance(b, (int, float)) else ""]
            rows.append([plain(v) for v in current[:keys]] + values)
        out.append((name, header[:keys] + [f"{h} {p}" for h in header[keys:] for p in ("current", "proposed", "diff")],
                    rows))
    out.append(("changes", CHANGE_HEADER, [[plain(v) for v in line] for line in change_lines(c)]))
    return out


def write_csv(directory: Path, c: Comparison) -> list[Path]:
    """sla.csv, probes.csv and contacts.csv (each measure under both policies and the difference), changes.csv."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, header, rows in raw_tables(c):
        path = directory / f"{name}.csv"
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(header)
            out.writerows(rows)
        written.append(path)
    return written


def write_html(path: Path, c: Comparison, title: str, span: str) -> Path:
    """One page, no external resources: what history it replays (`span`), a chart of met % per
    month under both policies, then the tables."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
             "body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
             "td:first-child,th:first-child{text-align:left}tr.changed{background:#fff4d6}"
             ".cur{fill:#5b8bd9}.prop{fill:#e08a3c}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p>{html.escape(span[:1].upper() + span[1:])}.</p>", _chart(c)]
    for heading, header, lines in (("SLA instances", SLA_HEADER, sla_lines(c)),
                                   ("Probe SLOs and service credits", PROBE_HEADER, probe_lines(c)),
                                   ("Contact objectives and service credits", CONTACT_HEADER, contact_lines(c))):
        parts.append(f"<h2>{heading}</h2><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for current, proposed in lines:
            cls = " class='changed'" if current != proposed else ""
            parts.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_pair(a, b))}</td>"
                                                for a, b in zip(current, proposed)) + "</tr>")
        parts.append("</table>")
    parts.append(f"<h2>Instances whose outcome changes ({len(c.changes):,})</h2><table><tr>"
                 + "".join(f"<th>{html.escape(h)}</th>" for h in CHANGE_HEADER) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in line) + "</tr>" for line in change_lines(c)]
    parts.append("</table></body></html>")
    path.write_text("".join(parts))
    return path


def _chart(c: Comparison) -> str:
    """Grouped bars: met % per (contract, metric, month) over all levels, current and proposed."""
    totals: dict[tuple[str, str, date], list[int]] = {}
    for row in c.sla:
        contract, metric, _, month = row.key
        slot = totals.setdefault((contract, metric, month), [0, 0, 0, 0])
        for i, f in enumerate((row.current, row.proposed)):
            if f is not None:
                slot[2 * i] += f.met
                slot[2 * i + 1] += f.met + f.missed
    groups = [(k, [100 * v[0] / v[1] if v[1] else 0, 100 * v[2] / v[3] if v[3] else 0])
              for k, v in sorted(totals.items())]
    if not groups:
        return "<p>No SLA instances in this history.</p>"
    width, bar, height = 40 + 70 * len(groups), 24, 220
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 70}' role='img' "
           "aria-label='met percent per month under both policies'>",
           "<text x='0' y='12'>met % per contract, metric and month: <tspan class='cur'>■</tspan> current "
           "<tspan class='prop'>■</tspan> proposed</text>"]
    for i, ((contract, metric, month), (cur, prop)) in enumerate(groups):
        x = 40 + 70 * i
        for j, (value, cls) in enumerate(((cur, "cur"), (prop, "prop"))):
            h = height * value / 100
            svg.append(f"<rect class='{cls}' x='{x + j * bar}' y='{20 + height - h:.1f}' width='{bar - 2}' "
                       f"height='{h:.1f}'><title>{html.escape(contract)} {metric} {month:%Y-%m}: {value:.1f} %</title></rect>")
        svg.append(f"<text x='{x}' y='{height + 36}' font-size='10'>{html.escape(contract)[:10]}</text>"
                   f"<text x='{x}' y='{height + 48}' font-size='10'>{metric[:10]}</text>"
                   f"<text x='{x}' y='{height + 60}' font-size='10'>{month:%Y-%m}</text>")
    svg.append("</svg>")
    return "".join(svg)
