"""ClickHouse access through clickhouse-connect: embedded chDB or a server, same calls."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


def connect(dsn: str, password: str | None = None) -> Client:
    """Open a client for `chdb:///abs/path` (embedded) or `http(s)://user:pass@host:port/db`.

    A password given separately (CLICKHOUSE_PASSWORD) keeps it out of the DSN.
    """
    parsed = urlparse(dsn)
    if parsed.scheme == "chdb":
        Path(parsed.path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=dsn)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"CLICKHOUSE_DSN must start with chdb://, http:// or https://, got {parsed.scheme!r}")
    kwargs: dict[str, Any] = {"dsn": dsn}
    if password:
        kwargs["password"] = password
    return clickhouse_connect.get_client(**kwargs)


class AsyncInserter:
    """Runs blocking inserts on one background thread so the event loop never waits on I/O.

    One thread keeps inserts ordered and respects chDB's one-connection-per-process model.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")

    async def insert(self, table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]]) -> None:
        """Insert column-oriented data as one block."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._insert, table, column_names, columns)

    def _insert(self, table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]]) -> None:
        self.client.insert(table, data=columns, column_names=list(column_names), column_oriented=True)

    def close(self) -> None:
        """Wait for pending inserts and close the client."""
        self._executor.shutdown(wait=True)
        self.client.close()
