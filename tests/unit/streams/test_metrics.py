"""Watch: /health, /ready and /metrics over HTTP, without a broker (nothing owned, so lag unknown)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from schemas.errors import UserError
from streams.metrics import CONSUMED, Watch, live_gauge
from streams.settings import Settings
from streams.tools.workerproc import free_ports


def get(port: int, path: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            body = answer.read().decode()
            return answer.status, json.loads(body) if path != "/metrics" else body
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served():
    port = free_ports(1)[0]
    watch = Watch(Settings(health_stall_s=5, ready_max_lag=10), "unit-metrics")
    server = watch.serve("127.0.0.1", port)
    yield watch, port
    server.shutdown()


def test_ready_says_which_check_fails_until_all_pass(served) -> None:
    watch, port = served
    assigned = {"now": False}
    watch.checks["partitions_assigned"] = lambda: assigned["now"]
    code, body = get(port, "/ready")
    assert code == 503 and body["checks"] == {"partitions_assigned": False, "lag_known": False,
                                              "lag_within_bound": False}
    assigned["now"] = True
    watch.lag.total = 11  # over the bound of 10
    assert get(port, "/ready")[0] == 503
    watch.lag.total = 10
    assert get(port, "/ready") == (200, {"ok": True, "checks": {"partitions_assigned": True, "lag_known": True,
                                                               "lag_within_bound": True}, "lag": 10, "max_lag": 10})


def test_health_fails_once_the_loop_has_been_quiet_too_long(served, monkeypatch) -> None:
    watch, port = served
    watch.alive()
    assert get(port, "/health")[0] == 200
    watch._beat -= 6  # six seconds ago, with a bound of five
    code, body = get(port, "/health")
    assert code == 503 and body["loop_quiet_s"] >= 6


def test_metrics_are_served_with_live_gauges_read_when_scraped(served) -> None:
    _, port = served
    waiting = [3]
    live_gauge("slastream_sink_rows_waiting", lambda: [((), waiting[0])])
    CONSUMED.labels("unit.topic").inc(2)
    _, first = get(port, "/metrics")
    waiting[0] = 7
    _, second = get(port, "/metrics")
    assert "slastream_sink_rows_waiting 3.0" in first and "slastream_sink_rows_waiting 7.0" in second
    assert 'slastream_records_consumed_total{topic="unit.topic"}' in second
    assert get(port, "/else")[0] == 404


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UserError, match="METRICS_PORT .* free port"):
            Watch(Settings(), "unit-metrics").serve("127.0.0.1", taken.getsockname()[1])
