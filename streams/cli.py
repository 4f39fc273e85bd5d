"""The `slastream` command line."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from rich.console import Console

console = Console(stderr=True)


def _settings():  # imported lazily so `--help` stays fast
    from streams.settings import Settings

    return Settings()


def cmd_worker(args: argparse.Namespace) -> int:
    from faust.worker import Worker

    from sinks.clickhouse import AsyncInserter, connect
    from sinks.contracts import write_contracts
    from sinks.migrate import migrate
    from streams.app import build_app

    from schemas.policy import PolicyError, load_policy

    settings = _settings()
    policy = None
    files = [f for f in (settings.sla_policy_file, settings.openslo_file) if f]
    if files:
        try:
            policy = load_policy(*files)
        except PolicyError as exc:
            console.print(f"SLA_POLICY_FILE / OPENSLO_FILE is not usable:\n{exc}", markup=False, highlight=False)
            return 2
    client = connect(settings.clickhouse_dsn, _secret(settings.clickhouse_password))
    for m in migrate(client):
        console.print(f"applied migration {m.version:04d}_{m.name}")
    if policy is not None:
        write_contracts(client, policy, datetime.now(timezone.utc))
    app = build_app(settings, AsyncInserter(client), policy)
    worker = Worker(app, loglevel=args.loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0


def cmd_topics_create(args: argparse.Namespace) -> int:
    from streams.topics import create_topics

    for name, state in create_topics(_settings()).items():
        console.print(f"{name}: {state}")
    return 0


def cmd_schema_export(args: argparse.Namespace) -> int:
    from schemas.export import export

    for path in export(Path(args.dir)):
        console.print(f"wrote {path}")
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from sinks.clickhouse import connect
    from sinks.migrate import migrate

    settings = _settings()
    client = connect(settings.clickhouse_dsn, _secret(settings.clickhouse_password))
    applied = migrate(client)
    for m in applied:
        console.print(f"applied {m.version:04d}_{m.name}")
    if not applied:
        console.print("schema is up to date")
    client.close()
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.produce import produce

    report = produce(
        _settings(), rate=args.rate, duration=args.duration, time_scale=args.time_scale,
        seed=args.seed, bad=args.bad, paced=not args.unpaced, progress=not args.quiet,
    )
    console.print(
        f"produced {report.events} events ({report.first_event_time:%Y-%m-%d %H:%M:%S} .. "
        f"{report.last_event_time:%H:%M:%S} UTC) and {report.bad} bad records"
    )
    return 0


def cmd_policy_validate(args: argparse.Namespace) -> int:
    from schemas.policy import PolicyError, load_policy

    try:
        policy = load_policy(args.file, args.openslo)
    except PolicyError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}")
        return 1
    print(f"{args.file}: OK — {policy.summary()}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from schemas.policy import PolicyError, load_policy
    from streams.clocks import ClockEngine
    from streams.replay import run

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    source = sys.stdin.buffer if args.events == "-" else open(args.events, "rb")
    out = open(args.out, "wb") if args.out else sys.stdout.buffer
    with source, out:
        applied, bad = run(ClockEngine(policy), source, out, sys.stderr, args.final)
    print(f"replayed {applied} events, skipped {bad} bad lines", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(args.seconds, args.rate, args.time_scale)


def _secret(value) -> str | None:
    return value.get_secret_value() if value else None


def parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    p = argparse.ArgumentParser(prog="slastream", description="Streaming SLA event processor.")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run the stream worker (Faust app)")
    w.add_argument("--loglevel", default="warning")
    w.set_defaults(func=cmd_worker)

    t = sub.add_parser("topics", help="manage Kafka topics").add_subparsers(dest="action", required=True)
    t.add_parser("create", help="create missing topics (idempotent)").set_defaults(func=cmd_topics_create)

    s = sub.add_parser("schema", help="JSON Schema files").add_subparsers(dest="action", required=True)
    e = s.add_parser("export", help="write one JSON Schema file per event kind")
    e.add_argument("dir", help="output directory")
    e.set_defaults(func=cmd_schema_export)

    d = sub.add_parser("db", help="ClickHouse schema").add_subparsers(dest="action", required=True)
    d.add_parser("migrate", help="apply pending DDL migrations").set_defaults(func=cmd_db_migrate)

    pr = sub.add_parser("produce", help="publish synthetic events")
    pr.add_argument("--rate", type=float, default=500.0, help="events per second")
    pr.add_argument("--duration", type=float, default=10.0, help="seconds of producing")
    pr.add_argument("--time-scale", type=float, default=1.0, help="event-time seconds per wall second")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--unpaced", action="store_true", help="send rate*duration events as fast as possible")
    pr.add_argument("--bad", action="store_true", help="also send one record of each kind of bad input")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_produce)

    po = sub.add_parser("policy", help="SLA policy files").add_subparsers(dest="action", required=True)
    pv = po.add_parser("validate", help="check a policy file (or OpenSLO documents); every problem with its line")
    pv.add_argument("file")
    pv.add_argument("--openslo", help="OpenSLO v1 documents whose contracts join the policy's")
    pv.set_defaults(func=cmd_policy_validate)

    rp = sub.add_parser("replay", help="run the SLA engine over a JSONL file of ticket and incident events")
    rp.add_argument("--policy", required=True)
    rp.add_argument("events", help="JSONL file, or - for stdin")
    rp.add_argument("--out", help="write outputs here instead of stdout")
    rp.add_argument("--final", action="store_true", help="end with the final status of every SLA instance")
    rp.set_defaults(func=cmd_replay)

    dm = sub.add_parser("demo", help="end-to-end demo on the local broker and embedded ClickHouse")
    dm.add_argument("--seconds", type=float, default=10.0)
    dm.add_argument("--rate", type=float, default=1000.0)
    dm.add_argument("--time-scale", type=float, default=30.0)
    dm.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `slastream` console script."""
    args = parser().parse_args(argv)
    if args.command == "worker":
        sys.argv = [sys.argv[0], "worker"]  # Faust's Worker reads sys.argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
