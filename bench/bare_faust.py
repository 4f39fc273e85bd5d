"""Baseline for the benchmarks: a bare Faust worker whose agents only iterate.

Run as a process beside the slastream worker on the same topics (its own consumer group);
the benchmark measures it by its commits, as it measures the worker. Raw serializers, one
agent per topic, nothing done per record but counting.

    python bench/bare_faust.py APP_ID TOPIC [TOPIC ...]
"""

from __future__ import annotations

import os
import sys

import faust


def main(app_id: str, topics: list[str]) -> None:
    app = faust.App(app_id, broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}", key_serializer="raw",
                    value_serializer="raw", web_enabled=False, store="memory://",
                    datadir=os.environ.get("DATA_DIR", f"/tmp/{app_id}"))
    for i, name in enumerate(topics):
        async def count(stream: faust.StreamT) -> None:
            async for _ in stream:
                pass

        count.__name__ = count.__qualname__ = f"count_{i}"
        app.agent(app.topic(name, internal=False), name=f"count-{i}")(count)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
