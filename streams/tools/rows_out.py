"""Rows printed for people or for scripts: a terminal table, CSV, TSV or JSON Lines.

A table printed into a pipe or file keeps every column at full width (rich would cut it to
80 columns); scripts take `csv`, `tsv` (tab-separated, the header first) or `json` (one
JSON object per row, as ClickHouse's JSONEachRow), with values as they are.
"""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime
from typing import Any, Iterable, Literal, Sequence, TextIO

import orjson
from rich.console import Console
from rich.table import Table

Format = Literal["table", "csv", "tsv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "tsv", "json")


def console(out: TextIO | None = None) -> Console:
    """A console for stdout (or `out`) that wraps nothing when it is not a terminal."""
    out = out or sys.stdout
    return Console(file=out, width=None if out.isatty() else 100_000)


def write_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: Format, out: TextIO | None = None,
               title: str | None = None) -> None:
    """Print `rows` under `columns` in `fmt` (NULL for a missing value in a table, empty in CSV/TSV)."""
    out = out or sys.stdout
    if fmt == "json":
        for row in rows:
            out.write(orjson.dumps(dict(zip(columns, row)), option=orjson.OPT_UTC_Z,
                                   default=str).decode() + "\n")
        return
    if fmt in ("csv", "tsv"):
        writer = csv.writer(out, dialect="excel-tab" if fmt == "tsv" else "excel", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([plain(v) for v in row] for row in rows)
        return
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console(out).print(table)


def write_tables(tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]], fmt: Format,
                 out: TextIO | None = None) -> None:
    """Several named tables in one stream: for `json` each row an object whose "table" names
    its table; for `csv`/`tsv` the tables one after another, each under its own header,
    separated by an empty line."""
    out = out or sys.stdout
    for n, (name, columns, rows) in enumerate(tables):
        if fmt == "json":
            write_rows(["table", *columns], ([name, *row] for row in rows), fmt, out)
            continue
        if n and fmt != "table":
            out.write("\n")
        write_rows(columns, rows, fmt, out, title=name)


def plain(value: Any) -> Any:
    """A value for CSV: empty for NULL, ISO 8601 for dates and times, else itself."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
