"""Portal benchmark: every page over the demo's ClickHouse (run `make demo` first), p50/p99.

Serves the portal in-process on a free port with an analyst token and asks each page
once (the first, cold request: ClickHouse has not read those parts yet) and then
`--repeat` times over HTTP, one at a time: the time a user waits for the HTML (queries
and rendering), beside the time of the bare login page (the server's own floor).

    python bench/portal.py [--dsn chdb:///abs/var/demo/chdb] [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sinks.clickhouse import connect  # noqa: E402
from streams.portal.access import load_users, new_token  # noqa: E402
from streams.portal.queries import Db  # noqa: E402
from streams.portal.server import serve  # noqa: E402
from streams.tools.workerproc import free_ports  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", default=f"chdb://{Path('var/demo/chdb').resolve()}")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    client = connect(args.dsn)
    db = Db(client)
    customer, contract, instance = client.query(
        "SELECT customer, contract_id, instance_id FROM sla_instances_current WHERE breached LIMIT 1").result_rows[0]
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    token, digest = new_token()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(f"users:\n  - {{name: bench, role: analyst, token_sha256: \"{digest}\"}}\n")
    port = free_ports(1)[0]
    server = serve(db, load_users(Path(f.name)), "127.0.0.1", port, background=True)
    pages = {
        "log-in page (floor)": "/login",
        "customers": "/customers",
        "customer month": f"/c/{quote(customer)}",
        "contract month (charts)": f"/c/{quote(customer)}/contract/{quote(contract)}/{month}",
        "instance audit trail": f"/i/{quote(instance, safe='')}",
        "monthly report": f"/c/{quote(customer)}/report/{month}",
        "CSV export": f"/c/{quote(customer)}?csv=sla",
    }
    table = Table(title=f"portal over {args.dsn}, {args.repeat} requests per page, one at a time")
    for column in ("page", "first ms", "p50 ms", "p99 ms", "bytes"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for name, path in pages.items():
        times, size = [], 0
        for _ in range(args.repeat + 1):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
            started = time.perf_counter()
            with urllib.request.urlopen(request) as answer:
                size = len(answer.read())
            times.append((time.perf_counter() - started) * 1000)
        first, times = times[0], times[1:]
        q = statistics.quantiles(times, n=100)
        table.add_row(name, f"{first:.1f}", f"{q[49]:.1f}", f"{q[98]:.1f}", f"{size:,}")
    server.shutdown()
    client.close()
    Console().print(table)


if __name__ == "__main__":
    main()
