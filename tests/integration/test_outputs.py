"""The worker's output producer against the real broker: stored means readable, lost means refused."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streams.kafka_util import read_all
from streams.worker.outputs import OutputLost, Outputs
from tests.integration.conftest import Run

pytestmark = pytest.mark.integration


def test_records_are_readable_in_order_once_stored(run: Run) -> None:
    settings = run.settings
    outputs = Outputs(settings.kafka_client_config(), settings.producer_linger_ms)
    events = [(b"i1", orjson.dumps({"type": t, "n": n})) for n, t in enumerate(["warning", "breached", "met"])]
    outputs.send(settings.topic_breaches, events, lifecycle=True)
    outputs.send(settings.topic_instances, [(b"ticket:T1", b"{}")])
    asyncio.run(outputs.stored())
    got = read_all(settings, settings.topic_breaches, timeout=5)
    assert [(m.key(), m.value()) for m in got] == events  # one key: one partition, in order
    assert len(read_all(settings, settings.topic_instances, timeout=5)) == 1


def test_a_record_the_broker_never_stores_is_refused_when_waited_for(run: Run) -> None:
    settings = run.settings
    # No such topic (the broker creates none on its own): librdkafka gives up after 1.5 s here.
    outputs = Outputs({**settings.kafka_client_config(), "message.timeout.ms": 1500}, settings.producer_linger_ms)
    outputs.send(f"{settings.topic_breaches}-missing", [(b"i1", b'{"type": "breached"}')], lifecycle=True)
    with pytest.raises(OutputLost, match="-missing"):
        asyncio.run(asyncio.wait_for(outputs.stored(), 30))


def test_a_wait_is_for_the_records_sent_before_it_not_for_those_sent_while_it_waits(run: Run) -> None:
    """Under a steady load librdkafka's queue is seldom empty: a tick waiting for its own
    outputs must not wait for everything sent after them too."""
    settings = run.settings
    # The second record goes to no topic: librdkafka holds it for 10 s, then gives up.
    outputs = Outputs({**settings.kafka_client_config(), "message.timeout.ms": 10_000}, settings.producer_linger_ms)

    async def scenario() -> int:
        outputs.send(settings.topic_breaches, [(b"i1", b'{"type": "breached"}')], lifecycle=True)
        waiting = asyncio.ensure_future(outputs.stored())
        await asyncio.sleep(0)  # the wait has begun
        outputs.send(f"{settings.topic_breaches}-missing", [(b"i2", b'{"type": "breached"}')], lifecycle=True)
        await asyncio.wait_for(waiting, 30)
        return outputs.unstored()

    assert asyncio.run(scenario()) == 1  # returned with the later record still in flight
    assert len(read_all(settings, settings.topic_breaches, timeout=5)) == 1
