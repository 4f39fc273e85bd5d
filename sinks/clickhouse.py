"""ClickHouse access through clickhouse-connect: embedded chDB or a server, same calls."""

from __future__ import annotations

import fcntl
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError, ProgrammingError
from clickhouse_connect.driver.exceptions import Error as ClickHouseError

from schemas.errors import UserError

_EXAMPLES = "chdb:///absolute/path (embedded) or http://host:8123 (a server)"


def _holder(directory: Path) -> str | None:
    """The other process that has the embedded database in `directory` open ("pid N: command
    line"), or None. ClickHouse holds a lock on the `status` file there, which names its pid,
    while the database is open: asked before opening, so chDB prints nothing of its own."""
    try:
        with open(directory / "status", "rb") as status:
            found = re.search(rb"^PID: (\d+)", status.read(), re.MULTILINE)
            if found is None or int(found.group(1)) == os.getpid():
                return None
            try:
                fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # held: by the process it names
            else:
                fcntl.flock(status, fcntl.LOCK_UN)
                return None  # left behind by a process that was killed
    except OSError:
        return None
    pid = found.group(1).decode()
    try:
        command = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"))
    except OSError:
        command = "command unknown"
    return f"pid {pid}: {' '.join(command.split())[:100]}"


def connect(dsn: str, password: str | None = None) -> Client:
    """Open a client for `chdb:///abs/path` (embedded) or `http(s)://user:pass@host:port/db`.

    A password given separately (CLICKHOUSE_PASSWORD) keeps it out of the DSN. A DSN that
    cannot work, or a server that does not answer, is a UserError naming the DSN (without
    its password).
    """
    parsed = urlparse(dsn)
    shown = redact(dsn)
    if parsed.scheme == "chdb":
        if parsed.netloc or not parsed.path.startswith("/"):
            raise UserError(f"CLICKHOUSE_DSN {shown}: a chDB path must be absolute, e.g. {_EXAMPLES.split()[0]}")
        try:
            Path(parsed.path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"CLICKHOUSE_DSN {shown}: cannot create the directory ({exc.strerror})") from None
        holder = _holder(Path(parsed.path))
        if holder is not None:
            raise UserError(f"CLICKHOUSE_DSN {shown}: the embedded database is open in another process ({holder}), "
                            f"and embedded ClickHouse lets one process at a time open it: stop that process first, "
                            f"or store into a ClickHouse server (docker compose up, CLICKHOUSE_DSN=http://...)")
        return clickhouse_connect.get_client(dsn=dsn)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UserError(f"CLICKHOUSE_DSN {shown!r} is not a ClickHouse address; use {_EXAMPLES}")
    # A password in the query (?password=) is taken out and passed on its own: left in, the
    # client library would get it twice and fail with a TypeError.
    query = parse_qsl(parsed.query, keep_blank_values=True)
    password = password or next((v for k, v in reversed(query) if k == "password"), None)
    kwargs: dict[str, Any] = {"dsn": urlunparse(parsed._replace(query=urlencode([(k, v) for k, v in query
                                                                                  if k != "password"])))}
    if password:
        kwargs["password"] = password
    try:
        return clickhouse_connect.get_client(**kwargs)
    except (TypeError, ValueError) as exc:  # a setting in the query the client does not know or cannot take
        raise UserError(f"CLICKHOUSE_DSN {shown}: {exc}; use {_EXAMPLES}") from None
    except ClickHouseError as exc:
        reason = re.search(r"\[Errno -?\d+\] [^\")]+|Code: \d+\. [^.(]+", str(exc))
        raise UserError(f"cannot reach ClickHouse at {shown}: {reason.group(0) if reason else type(exc).__name__}; "
                        "start the server or fix CLICKHOUSE_DSN / CLICKHOUSE_PASSWORD") from None


def connect_reader(dsn: str, password: str | None = None) -> Client:
    """`connect` for the commands that only read (query, whatif, portal): nothing is created,
    and a database without slastream's tables is refused with one line saying how to get one."""
    parsed = urlparse(dsn)
    shown = redact(dsn)
    fix = "point CLICKHOUSE_DSN at the sink's database (`make demo` writes var/demo/chdb), or create the tables " \
          "with `slastream db migrate`"
    # chDB writes a database's `metadata` directory when the first table is made: without it
    # there is nothing to read, and opening would create files there.
    if parsed.scheme == "chdb" and parsed.path.startswith("/") and not (Path(parsed.path) / "metadata").is_dir():
        raise UserError(f"CLICKHOUSE_DSN {shown}: no slastream database at {parsed.path}; {fix}")
    client = connect(dsn, password)
    try:
        found = client.command("EXISTS TABLE schema_migrations")
    except ClickHouseError as exc:
        client.close()
        raise UserError(f"CLICKHOUSE_DSN {shown}: {str(exc).strip().splitlines()[0][:200]}") from None
    if str(found).strip() != "1":
        client.close()
        raise UserError(f"CLICKHOUSE_DSN {shown}: the database has no slastream tables; {fix}")
    return client


def tables_end(client: Client) -> datetime | None:
    """The last instant slastream's tables know of (UTC): the latest input event, lifecycle
    event or end of a closed probe minute; None while they are empty."""
    # A query, not `command`: command gives the value as text.
    (end,) = client.query(
        "SELECT greatest((SELECT max(occurred_at) FROM input_events), (SELECT max(at) FROM breaches), "
        "(SELECT toDateTime64(max(minute), 3, 'UTC') + INTERVAL 1 MINUTE FROM probe_minutes))").result_rows[0]
    if not isinstance(end, datetime) or end.year < 1971:  # empty tables give the epoch
        return None
    return end.replace(tzinfo=timezone.utc)


# Parallel parsing splits a block over threads: for blocks of a batch (10,000 rows) it cost
# about 15 % more CPU than one thread in a one-off in-process check (3.4-3.7 against 4.0-4.2
# µs a row into input_events in chDB, alternating runs). Fields without a column (a record's
# schema_version) are left out; an object where a String goes is stored as its text.
_JSON_ROWS = {"date_time_input_format": "best_effort", "input_format_parallel_parsing": 0,
              "input_format_skip_unknown_fields": 1, "input_format_json_read_objects_as_strings": 1}


def insert_json(client: Client, table: str, columns: list[str], block: bytes) -> None:
    """Insert JSONEachRow lines: ClickHouse parses them, no Python per row."""
    client.raw_insert(table, columns, insert_block=block, fmt="JSONEachRow", settings=_JSON_ROWS)


def redact(dsn: str) -> str:
    """The DSN with any password (user:password@ or ?password=) replaced by ***."""
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", dsn))


# Server error codes an insert cannot pass by waiting: the schema, the rows or the account
# must change first (ClickHouse's src/Common/ErrorCodes.cpp).
_FOR_GOOD = {
    6: "CANNOT_PARSE_TEXT", 8: "THERE_IS_NO_COLUMN", 10: "NOT_FOUND_COLUMN_IN_BLOCK",
    16: "NO_SUCH_COLUMN_IN_TABLE", 27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED", 36: "BAD_ARGUMENTS",
    41: "CANNOT_PARSE_DATETIME", 43: "ILLEGAL_TYPE_OF_ARGUMENT", 44: "ILLEGAL_COLUMN", 47: "UNKNOWN_IDENTIFIER",
    53: "TYPE_MISMATCH", 60: "UNKNOWN_TABLE", 62: "SYNTAX_ERROR", 70: "CANNOT_CONVERT_TYPE", 81: "UNKNOWN_DATABASE",
    117: "INCORRECT_DATA", 192: "UNKNOWN_USER", 194: "REQUIRED_PASSWORD", 497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED",
}


def passes_with_time(exc: Exception) -> bool:
    """Whether a failed insert may succeed if tried again later: a server or connection
    that is away, busy, out of disk or memory. Not: a server error in `_FOR_GOOD`, or rows
    the client library itself cannot encode (a bug, not an outage)."""
    if isinstance(exc, (ProgrammingError, DataError, TypeError, ValueError, KeyError)):
        return False
    code = re.search(r"Code: (\d+)\.", str(exc))
    return code is None or int(code.group(1)) not in _FOR_GOOD
