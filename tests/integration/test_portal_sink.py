"""Beside a running pipeline on embedded chDB the sink owns the data directory, so it serves
the portal itself (SINK_PORTAL=true) while it goes on storing."""

from __future__ import annotations

import urllib.request

from sinks.kafka_sink import sink_topics
from streams.portal.access import new_token
from streams.tools.workerproc import free_ports
from tests.integration import scenario
from tests.integration.helpers import send
from tests.integration.test_sla_live import start_time


def test_the_sink_serves_the_portal_while_it_stores(run) -> None:
    token, digest = new_token()
    users = run.tmp / "users.yaml"
    users.write_text(f'users:\n  - {{name: acme, customer: acme, token_sha256: "{digest}"}}\n')
    port = free_ports(1)[0]
    sink = run.sink(SINK_PORTAL="true", PORTAL_USERS_FILE=str(users), PORTAL_PORT=str(port),
                    SLA_POLICY_FILE=str(scenario.POLICY))
    worker = run.worker(SLA_POLICY_FILE=str(scenario.POLICY))
    send(run.settings, scenario.records(start_time()))

    def page() -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/c/acme", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.read().decode()
        except OSError:
            return ""

    # Rows appear on the page as the sink stores them: one per metric of the contract.
    sink.wait_until(lambda: page().count("<td>fast</td>") == 4 and "response" in page(), 90, "the portal's figures")
    sink.wait_committed(run.settings, sink_topics(run.settings), 120)
    assert sink.alive()
    worker.stop()
    sink.stop()
