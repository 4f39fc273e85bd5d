"""/metrics, /health and /ready of a worker and a sink during a real run (broker, chDB).

Every counter is compared with what the topics hold afterwards, not with constants.
"""

from __future__ import annotations

import collections
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import orjson
from prometheus_client.parser import text_string_to_metric_families

from sinks.kafka_sink import sink_topics
from streams.kafka_util import read_all
from streams.tools.workerproc import free_ports
from tests.integration import scenario
from tests.integration.helpers import send
from tests.integration.test_sla_live import start_time, wait_for_outcome

BAD = [("ticket", "T9", b"{not json"), ("ticket", "T9", b'{"ticket_id": "T9"}'), ("incident", "I9", b"[1, 2")]


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    _, body = get(port, "/metrics")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def ready_codes(worker, port: int, timeout: float = 60) -> list[tuple[int, dict]]:
    """/ready answers from the process's start until the first 200."""
    seen: list[tuple[int, dict]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (seen and seen[-1][0] == 200):
        try:
            code, body = get(port, "/ready")
            seen.append((code, json.loads(body)))
        except OSError:  # not listening yet
            pass
        time.sleep(0.1)
    return seen


def test_counters_move_by_what_was_sent_rejected_and_published(run) -> None:
    worker_port, sink_port = free_ports(2)
    worker = run.worker(SLA_POLICY_FILE=str(scenario.POLICY), METRICS_PORT=str(worker_port), LAG_INTERVAL_S="1")
    answers = ready_codes(worker, worker_port)
    # 503 while any check fails (which ones at the first answer depends on how far the start got).
    assert answers[0][0] == 503 and not all(answers[0][1]["checks"].values())
    assert all(code == (200 if all(body["checks"].values()) else 503) for code, body in answers), answers
    assert answers[-1][0] == 200, answers[-1]
    assert get(worker_port, "/health")[0] == 200

    good = scenario.records(start_time())
    send(run.settings, good + BAD)
    wait_for_outcome(run, worker, len(scenario.EXPECTED_EVENTS))
    inputs = {run.settings.topic_tickets, run.settings.topic_incidents}
    worker.wait_until(lambda: total(scrape(worker_port), "slastream_records_acknowledged_total") == len(good + BAD)
                      and all(total(scrape(worker_port), "slastream_consumer_lag", topic=t) == 0 for t in inputs)
                      and all(("slastream_consumer_lag", (("partition", str(p)), ("topic", t))) in scrape(worker_port)
                              for t in inputs for p in range(run.settings.topic_partitions)),
                      60, "every input acknowledged, committed and reported")
    m = scrape(worker_port)

    for kind, topic in (("ticket", run.settings.topic_tickets), ("incident", run.settings.topic_incidents)):
        sent = sum(1 for k, _, _ in good + BAD if k == kind)
        assert total(m, "slastream_records_consumed_total", topic=topic) == sent
        assert total(m, "slastream_records_acknowledged_total", topic=topic) == sent
    assert total(m, "slastream_records_rejected_total", reason="malformed_json") == 2
    assert total(m, "slastream_records_rejected_total", reason="invalid") == 1
    assert total(m, "slastream_records_rejected_total") == len(BAD)

    published = {t: read_all(run.settings, t) for t in (run.settings.topic_breaches, run.settings.topic_deadletter,
                                                         run.settings.topic_instances)}
    for topic, records in published.items():
        assert total(m, "slastream_records_published_total", topic=topic) == len(records), topic
    types = collections.Counter(orjson.loads(r.value())["type"] for r in published[run.settings.topic_breaches])
    assert {ls[0][1]: v for (n, ls), v in m.items() if n == "slastream_lifecycle_events_published_total"} == types
    assert total(m, "slastream_sla_deadline_delay_seconds_count") == types["warning"] + types["breached"]
    assert total(m, "slastream_ticks_total") > 0 and total(m, "process_resident_memory_bytes") > 0

    # A held acknowledgement: a probe result waits for its minute to close (PROBE_IDLE_S after
    # the traffic stops); its age grows while it waits, as a stalled partition's would.
    probe = {"event_id": "p1", "occurred_at": datetime.now(timezone.utc).isoformat(), "source": "t",
             "probe_id": "p", "service": "checkout", "region": "eu", "ok": True, "latency_ms": 50.0, "status_code": 200}
    send(run.settings, [("probe", "checkout", orjson.dumps(probe))])
    probes = run.settings.topic_probes
    worker.wait_until(lambda: total(scrape(worker_port), "slastream_oldest_unacked_age_seconds", topic=probes) > 0,
                      30, "the probe result held")
    first = total(scrape(worker_port), "slastream_oldest_unacked_age_seconds", topic=probes)
    time.sleep(2)
    assert total(scrape(worker_port), "slastream_oldest_unacked_age_seconds", topic=probes) >= first + 1.5

    sink = run.sink(SINK_METRICS_PORT=str(sink_port), LAG_INTERVAL_S="1")
    sink.wait_committed(run.settings, sink_topics(run.settings), 120)
    worker.wait_until(lambda: get(sink_port, "/ready")[0] == 200, 30, "the sink ready")
    s = scrape(sink_port)
    for topic in sink_topics(run.settings):
        size = len(read_all(run.settings, topic))
        assert total(s, "slastream_records_consumed_total", topic=topic) == size, topic
        assert total(s, "slastream_records_acknowledged_total", topic=topic) == size, topic
    assert total(s, "slastream_sink_rows_inserted_total", table="breaches") == len(published[run.settings.topic_breaches])
    assert total(s, "slastream_sink_rows_waiting") == 0 and total(s, "slastream_sink_insert_failures_total") == 0
    assert total(s, "slastream_sink_batches_total") >= 1
    assert get(sink_port, "/nothing")[0] == 404
