"""The batch writer: rows are acknowledged only once inserted."""

import asyncio
from datetime import datetime, timezone
from typing import Any, Sequence

from schemas.events import ProbeEvent
from streams.ingest import EVENTS_RAW_COLUMNS, BatchWriter, events_raw_row

AT = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


class RecordingInserter:
    """Keeps inserted blocks in memory; can be told to fail."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, list[Any]]] = []
        self.fail = False

    async def insert(self, table: str, column_names: Sequence[str], columns: Sequence[Sequence[Any]]) -> None:
        assert table == "events_raw"
        if self.fail:
            raise ConnectionError("clickhouse is down")
        self.blocks.append(dict(zip(column_names, map(list, columns))))


def probe(i: int) -> ProbeEvent:
    return ProbeEvent(
        event_id=f"p{i}", occurred_at=AT, source="s", probe_id="x", service="search",
        region="eu", ok=True, latency_ms=12.5, status_code=200,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_acks_follow_a_successful_insert_and_batches_are_column_oriented() -> None:
    async def scenario() -> tuple[RecordingInserter, list[int]]:
        inserter, acked = RecordingInserter(), []
        writer = BatchWriter(inserter, "events_raw", EVENTS_RAW_COLUMNS, batch_rows=3)
        for i in range(4):
            async def ack(i: int = i) -> None:
                acked.append(i)
            await writer.add(("probe", probe(i).event_id), events_raw_row(probe(i), "sla.probes", 0, i, AT), ack)
            await asyncio.sleep(0)  # let a background flush run
        assert acked == [0, 1, 2]  # the full batch of 3 flushed, the 4th waits
        await writer.flush()
        return inserter, acked

    inserter, acked = run(scenario())
    assert acked == [0, 1, 2, 3]
    assert [b["event_id"] for b in inserter.blocks] == [["p0", "p1", "p2"], ["p3"]]
    assert set(inserter.blocks[0]) == set(EVENTS_RAW_COLUMNS)
    assert inserter.blocks[0]["offset"] == [0, 1, 2]


def test_copies_within_a_batch_are_stored_once_but_all_acked() -> None:
    async def scenario() -> tuple[RecordingInserter, int]:
        inserter, acked = RecordingInserter(), []
        writer = BatchWriter(inserter, "events_raw", EVENTS_RAW_COLUMNS, batch_rows=100)
        for offset in range(3):
            async def ack() -> None:
                acked.append(1)
            await writer.add(("probe", probe(7).event_id), events_raw_row(probe(7), "sla.probes", 0, offset, AT), ack)
        await writer.flush()
        return inserter, len(acked)

    inserter, acked = run(scenario())
    assert acked == 3
    assert inserter.blocks[0]["event_id"] == ["p7"]


def test_failed_insert_keeps_rows_unacknowledged_until_it_succeeds() -> None:
    async def scenario() -> tuple[RecordingInserter, list[int], list[int]]:
        inserter, acked = RecordingInserter(), []
        writer = BatchWriter(inserter, "events_raw", EVENTS_RAW_COLUMNS, batch_rows=100, retry_s=0)
        inserter.fail = True
        for i in range(2):
            async def ack(i: int = i) -> None:
                acked.append(i)
            await writer.add(("probe", probe(i).event_id), events_raw_row(probe(i), "sla.probes", 0, i, AT), ack)
        await writer.flush()
        after_failure = list(acked)
        inserter.fail = False
        await writer.flush()
        return inserter, after_failure, acked

    inserter, after_failure, acked = run(scenario())
    assert after_failure == []
    assert acked == [0, 1]
    assert [b["event_id"] for b in inserter.blocks] == [["p0", "p1"]]
