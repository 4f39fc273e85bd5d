"""Where a what-if's history comes from: JSONL files or ClickHouse `input_events`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

from clickhouse_connect.driver.client import Client

from schemas.events import EVENT_MODELS
from streams.engine.replay import BadLine, parse_lines
from streams.validate import AnyEvent


@dataclass
class History:
    """Input events in event-time order (ties by event id), and lines that could not be read."""

    events: list[AnyEvent]
    bad: list[str]

    @property
    def end(self) -> datetime | None:
        return self.events[-1].occurred_at if self.events else None


def _window(events: Iterable[AnyEvent], since: datetime | None, until: datetime | None) -> list[AnyEvent]:
    kept = [e for e in events if (since is None or e.occurred_at >= since) and (until is None or e.occurred_at < until)]
    return sorted(kept, key=lambda e: (e.occurred_at, e.event_id))


def from_files(paths: list[Path], since: datetime | None = None, until: datetime | None = None) -> History:
    """Events of JSONL files (one event per line, as `slastream replay` reads them)."""
    events: list[AnyEvent] = []
    bad: list[str] = []
    for path in paths:
        with path.open("rb") as lines:
            for item in parse_lines(lines):
                if isinstance(item, BadLine):
                    bad.append(f"{path}: {item}")
                else:
                    events.append(item)
    return History(_window(events, since, until), bad)


def from_clickhouse(client: Client, since: datetime | None = None, until: datetime | None = None) -> History:
    """Events of `input_events` (each once) with `since` <= occurred_at < `until`."""
    result = client.query(
        "SELECT kind, payload FROM events WHERE occurred_at >= {since:DateTime64(3)} "
        "AND occurred_at < {until:DateTime64(3)} ORDER BY occurred_at, event_id",
        parameters={"since": since or datetime(1970, 1, 1), "until": until or datetime(2200, 1, 1)},
    )
    events = [EVENT_MODELS[kind].model_validate_json(payload) for kind, payload in result.result_rows]
    return History(_window(events, since, until), [])
