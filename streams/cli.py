"""The `slastream` command line.

Exit codes (schemas/errors.py): 0 ok; 1 the input has problems (policy validate, replay
skipped lines); 2 a usage or environment mistake, printed as one line naming the problem
and the fix; 3 a run that started but could not finish. `--debug` adds tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console

from schemas.errors import FAILED, INPUT_PROBLEMS, OK, RunFailed, UserError, open_file
from streams.runtime import REPLAY_YOUNG, collect_less
from streams.tools.rows_out import FORMATS

console = Console(stderr=True)


def _settings() -> Any:  # imported lazily so `--help` stays fast
    from streams.settings import load_settings

    return load_settings()


def _policy(settings: Any) -> Any:
    """The policy of SLA_POLICY_FILE / OPENSLO_FILE, None when neither is set."""
    from schemas.policy import PolicyError
    from schemas.policy_files import load_policy

    files = [f for f in (settings.sla_policy_file, settings.openslo_file) if f]
    if not files:
        return None
    try:
        return load_policy(*files)
    except PolicyError as exc:
        raise UserError(f"SLA_POLICY_FILE / OPENSLO_FILE is not usable ({len(exc.problems)} problem(s); "
                        f"`slastream policy validate` lists them): {exc.problems[0]}") from None


def cmd_worker(args: argparse.Namespace) -> int:
    from faust.worker import Worker

    from streams.logs import rate_limit, use_format
    from streams.metrics import Watch
    from streams.worker.app import build_app
    from streams.topics import prepare_worker_topics

    settings = _settings()
    policy = _policy(settings)
    # Everything the worker needs is checked before it writes anything anywhere.
    prepare_worker_topics(settings)
    groups = {topic: settings.worker_group(topic) for topic in settings.input_topics.values()}
    watch = Watch(settings, settings.app_id, groups) if settings.metrics_port else None
    app = build_app(settings, policy, watch=watch)
    collect_less()
    if watch is not None:  # before the group is joined: /ready says so until partitions are assigned
        watch.serve(settings.metrics_bind, settings.metrics_port)

    class BoundedStopWorker(Worker):  # type: ignore[misc]
        """A stop (SIGTERM, or a crash) that hangs, e.g. in its last offset commit while the
        broker is away, ends the process after SHUTDOWN_TIMEOUT_S, so a supervisor can
        restart it: nothing unacknowledged is lost, the records are read again."""

        async def stop(self) -> None:
            exit_after(settings.shutdown_timeout_s)
            await super().stop()

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            rate_limit(logger)  # an outage repeats one failure per fetch and commit
            use_format(logger, settings.log_format)

    worker = BoundedStopWorker(app, loglevel=args.loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        # Faust ends every crash with exit code 1; a stop the worker decided (a stalled or
        # skipped partition, a failed tick) is a run that could not finish: a supervisor
        # restarts it on 3 and it resumes from the committed offsets.
        reason = worker.crash_reason or app.crash_reason
        if reason is None:
            raise
        raise RunFailed(f"the worker stopped ({type(reason).__name__}: {str(reason)[:300]}); "
                        "started again, it resumes from the committed offsets") from None
    return OK


def cmd_sink(args: argparse.Namespace) -> int:
    import signal
    import threading

    from clickhouse_connect.driver.client import Client

    from sinks.clickhouse import connect
    from sinks.contracts import write_contracts
    from sinks.kafka_sink import ClickHouseSink, roles
    from sinks.migrate import migrate
    from streams.logs import rate_limit, use_format
    from streams.metrics import Watch
    from streams.portal.queries import Db
    from streams.portal.server import serve
    from streams.topics import require_topics

    logging.basicConfig(level=args.loglevel.upper(), format="[%(asctime)s] [%(process)d] %(levelname)s %(name)s: %(message)s")
    rate_limit(logging.getLogger())
    settings = _settings()
    use_format(logging.getLogger(), settings.log_format)
    policy = _policy(settings)
    require_topics(settings)  # before anything is written anywhere

    def opened() -> Client:
        """ClickHouse with its schema and the policy's contracts current: at start, and each
        time embedded chDB is opened again to check its parts (sinks/repair.py)."""
        new = connect(settings.clickhouse_dsn, _secret(settings.clickhouse_password))
        for m in migrate(new):
            console.print(f"applied migration {m.version:04d}_{m.name}")
        if policy is not None:
            write_contracts(new, policy, datetime.now(timezone.utc))
        return new

    client = opened()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    watch = Watch(settings, settings.sink_group) if settings.sink_metrics_port else None
    db = Db(client)
    if settings.sink_portal:  # the one process that may open an embedded ClickHouse serves the portal too
        users = _portal_users(settings)
        serve(db, users, settings.portal_bind, settings.portal_port, background=True)
        console.print(f"SLA portal on http://{settings.portal_bind}:{settings.portal_port}/")

    def reopen() -> Client:  # the portal, when served, queries the same client
        with db.lock:
            db.client.close()
            db.client = opened()
        return db.client

    sink = ClickHouseSink(settings, client, roles(settings), watch=watch, lock=db.lock,
                          reopen=reopen if settings.clickhouse_dsn.startswith("chdb:") else None)
    if watch is not None:
        watch.serve(settings.metrics_bind, settings.sink_metrics_port)
    try:
        collect_less()
        sink.run(stopping.is_set)
    finally:
        db.client.close()
    console.print(f"sink stopped: {sink.records_stored:,} records stored as {sink.rows_written:,} rows")
    return OK


def cmd_topics_create(args: argparse.Namespace) -> int:
    from streams.topics import create_topics

    for name, state in create_topics(_settings()).items():
        console.print(f"{name}: {state}")
    return OK


def cmd_schema_export(args: argparse.Namespace) -> int:
    from schemas.export import export

    try:
        written = export(Path(args.dir))
    except OSError as exc:
        raise UserError(f"cannot write schema files into {args.dir}: {exc.strerror}") from None
    for path in written:
        console.print(f"wrote {path}")
    return OK


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
    return OK


def cmd_query(args: argparse.Namespace) -> int:
    from clickhouse_connect.driver.exceptions import DatabaseError

    from sinks.clickhouse import connect_reader
    from streams.tools.rows_out import write_rows

    settings = _settings()
    client = connect_reader(settings.clickhouse_dsn, _secret(settings.clickhouse_password))
    try:
        result = client.query(args.sql)
    except DatabaseError as exc:
        raise UserError(f"ClickHouse refused the query: {str(exc).strip().splitlines()[0][:300]}") from None
    finally:
        client.close()
    write_rows(result.column_names, result.result_rows, args.format)
    return OK


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.tools.produce import produce

    report = produce(
        _settings(), rate=args.rate, duration=args.duration, time_scale=args.time_scale,
        seed=args.seed, bad=args.bad, paced=not args.unpaced, progress=not args.quiet, contacts=args.contacts,
    )
    contacts = f" ({report.contacts} of them contacts of the day before)" if report.contacts else ""
    console.print(
        f"produced {report.events} events{contacts} ({report.first_event_time:%Y-%m-%d %H:%M:%S} .. "
        f"{report.last_event_time:%H:%M:%S} UTC) and {report.bad} bad records"
    )
    return OK


def cmd_policy_validate(args: argparse.Namespace) -> int:
    from schemas.policy import PolicyError
    from schemas.policy_files import load_policy

    try:
        policy = load_policy(args.file, args.openslo)
    except PolicyError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}")
        return INPUT_PROBLEMS
    print(f"{args.file}: OK — {policy.summary()}")
    return OK


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.engine.clocks import ClockEngine
    from streams.engine.replay import run

    policy = _policy_file(args.policy, "--policy")
    source = sys.stdin.buffer if args.events == "-" else open_file(args.events, "rb", "events file")
    out = open_file(args.out, "wb", "--out file") if args.out else sys.stdout.buffer
    collect_less(REPLAY_YOUNG)
    with source, out:
        counts = run(ClockEngine(policy), source, out, sys.stderr, args.final, args.kind)
    ignored = f", ignored {counts.ignored} probe results" if counts.ignored else ""
    print(f"replayed {counts.applied} events{ignored}, skipped {counts.bad} bad lines", file=sys.stderr)
    if counts.bad and not args.skip_bad:
        print("slastream: some lines were skipped (see above); fix them, or pass --skip-bad to accept that",
              file=sys.stderr)
        return INPUT_PROBLEMS
    return OK


def _policy_file(path: str, option: str) -> Any:
    from schemas.policy import PolicyError
    from schemas.policy_files import load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        raise UserError(f"{option} is not usable ({len(exc.problems)} problem(s); `slastream policy validate "
                        f"{path}` lists them): {exc.source}: {exc.problems[0]}") from None


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r} is not an ISO 8601 instant: write e.g. 2026-10-01 or "
                        "2026-10-01T00:00:00+02:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def cmd_whatif(args: argparse.Namespace) -> int:
    from sinks.clickhouse import connect_reader, tables_end
    from streams.whatif import history as source
    from streams.whatif.compare import compare
    from streams.whatif.figures import live_end, read
    from streams.tools.rows_out import console as rows_console
    from streams.tools.rows_out import write_tables
    from streams.whatif.report import print_tables, raw_tables, write_csv, write_html
    from streams.whatif.run import whatif

    current, proposed = _policy_file(args.policy, "--policy"), _policy_file(args.proposed, "--proposed")
    since, given = _instant(args.since, "--since"), _instant(args.until, "--until")
    until = given or datetime.now(timezone.utc)
    live = as_of = None
    if args.events:
        missing = [f for f in args.events if not Path(f).is_file()]
        if missing:
            raise UserError(f"--events {missing[0]} is not a file: give JSONL files of input events")
        history = source.from_files([Path(f) for f in args.events], since, until)
        for problem in history.bad:
            console.print(f"skipped {problem}")
    if args.check or not args.events:
        settings = _settings()
        client = connect_reader(settings.clickhouse_dsn, _secret(settings.clickhouse_password))
        try:
            as_of = tables_end(client)
            if args.check:
                live = read(client)
                # Unless told, up to where the live tables end: the worker fired every deadline up to
                # there; later ones it may not have seen yet.
                until = given or live_end(as_of) or until
            if not args.events:
                history = source.from_clickhouse(client, since, until + timedelta(milliseconds=1))
        finally:
            client.close()
    span = f"history: {len(history.events):,} events up to {until:%Y-%m-%d %H:%M:%S} UTC"
    if as_of is not None:  # a stopped pipeline's data ends before `until`: deadlines after it fire in the replay only
        span += f"; the database's data is as of {as_of:%Y-%m-%d %H:%M:%S} UTC (its latest event)"
    console.print(span)
    collect_less(REPLAY_YOUNG)
    comparison, a, b = whatif(current, proposed, history, until, console, args.customer, args.contract)
    if args.format == "table":
        print_tables(rows_console(), comparison)
    else:
        write_tables(raw_tables(comparison), args.format)
    for name, run in (("current", a), ("proposed", b)):
        rate = len(history.events) / run.seconds if run.seconds else float("inf")
        console.print(f"{name}: {len(history.events):,} events replayed in {run.seconds:.1f} s CPU ({rate:,.0f} events/s)")
    if args.csv:
        for path in write_csv(Path(args.csv), comparison):
            console.print(f"wrote {path}")
    if args.html:
        title = f"What if: {args.proposed} instead of {args.policy}"
        console.print(f"wrote {write_html(Path(args.html), comparison, title, span)}")
    console.print(f"{comparison.differences:,} differences: {len(comparison.changes):,} instances change outcome")
    if live is not None:
        check = compare(live, a.figures, {}, {}, set(args.customer) or None, set(args.contract) or None)
        if check.differences == 0:
            console.print("check: the current policy over this history reproduces the live tables")
        else:
            console.print(f"check: the current policy over this history differs from the live tables in "
                          f"{check.differences:,} figures or instances (live → replayed below; docs/whatif.md says why "
                          "they can)")
            # Beside script formats, on stderr: stdout stays one format.
            print_tables(rows_console() if args.format == "table" else console, check.only_changed())
            return INPUT_PROBLEMS
    return OK


def _portal_users(settings: Any) -> Any:
    from streams.portal.access import load_users

    if settings.portal_users_file is None:
        raise UserError("PORTAL_USERS_FILE is not set: name a YAML file of users (`slastream portal-token "
                        "--customer NAME` prints an entry for it)")
    return load_users(settings.portal_users_file)


def cmd_portal(args: argparse.Namespace) -> int:
    from sinks.clickhouse import connect_reader
    from streams.portal.queries import Db
    from streams.portal.server import serve

    settings = _settings()
    users = _portal_users(settings)
    client = connect_reader(settings.clickhouse_dsn, _secret(settings.clickhouse_password))
    bind, port = args.bind or settings.portal_bind, args.port or settings.portal_port
    try:
        server = serve(Db(client), users, bind, port)
    except UserError:
        client.close()
        raise
    console.print(f"SLA portal on http://{bind}:{server.server_port}/ ({len(users.by_hash)} users); Ctrl-C stops it")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        client.close()
    return OK


def cmd_portal_token(args: argparse.Namespace) -> int:
    from streams.portal.access import new_token

    token, digest = new_token()
    name = args.name or ("analyst" if args.analyst else args.customer)
    who = "role: analyst" if args.analyst else f"customer: {args.customer}"
    print(f"token (give it to the user; it is not stored anywhere): {token}")
    print("entry for PORTAL_USERS_FILE (under `users:`):")
    print(f"  - {{name: {name}, {who}, token_sha256: \"{digest}\"}}")
    return OK


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.tools.demo import run_demo

    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: give at least 1 (one worker process per core is the most useful)")
    return run_demo(args.seconds, args.rate, args.time_scale, args.workers)


def exit_after(seconds: float) -> None:
    """End the process with exit code 3 (FAILED) unless it ends by itself within `seconds`."""
    import os
    import threading

    def give_up() -> None:
        print(f"slastream: the worker did not stop within {seconds:g} s; exiting", file=sys.stderr, flush=True)
        os._exit(FAILED)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value else None


def parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    p = argparse.ArgumentParser(
        prog="slastream", description="Streaming SLA event processor.",
        epilog="exit codes: 0 ok, 1 problems found in the input, 2 usage or environment mistake, "
               "3 a run that could not finish",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run the stream worker (Faust app)")
    w.add_argument("--loglevel", default="warning")
    w.set_defaults(func=cmd_worker)

    sk = sub.add_parser("sink", help="copy input and output topics into ClickHouse (the only process writing it)")
    sk.add_argument("--loglevel", default="warning")
    sk.set_defaults(func=cmd_sink)

    t = sub.add_parser("topics", help="manage Kafka topics").add_subparsers(dest="action", required=True)
    t.add_parser("create", help="create missing topics (idempotent)").set_defaults(func=cmd_topics_create)

    s = sub.add_parser("schema", help="JSON Schema files").add_subparsers(dest="action", required=True)
    e = s.add_parser("export", help="write one JSON Schema file per event kind")
    e.add_argument("dir", help="output directory")
    e.set_defaults(func=cmd_schema_export)

    d = sub.add_parser("db", help="ClickHouse schema").add_subparsers(dest="action", required=True)
    d.add_parser("migrate", help="apply pending DDL migrations").set_defaults(func=cmd_db_migrate)

    q = sub.add_parser("query", help="run one SQL query on CLICKHOUSE_DSN and print the rows")
    q.add_argument("sql")
    q.add_argument("--format", choices=FORMATS, default="table",
                   help="table (default; full width when not a terminal), csv, tsv, or json (one object per row)")
    q.set_defaults(func=cmd_query)

    pr = sub.add_parser("produce", help="publish synthetic events")
    pr.add_argument("--rate", type=float, default=500.0, help="events per second")
    pr.add_argument("--duration", type=float, default=10.0, help="seconds of producing")
    pr.add_argument("--time-scale", type=float, default=1.0, help="event-time seconds per wall second")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--unpaced", action="store_true", help="send rate*duration events as fast as possible")
    pr.add_argument("--bad", action="store_true", help="also send one record of each kind of bad input")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--contacts", action="store_true", help="also a day of finished contacts, with a bad hour")
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
    rp.add_argument("--kind", choices=["ticket", "incident", "probe"],
                    help="kind of lines without a `kind` field (default: implied by ticket_id / incident_id)")
    rp.add_argument("--skip-bad", action="store_true", help="exit 0 even if bad lines were skipped")
    rp.set_defaults(func=cmd_replay)

    wi = sub.add_parser("whatif", help="replay history under the current and a proposed policy; show what changes")
    wi.add_argument("--policy", required=True, help="the policy in force (slastream YAML or OpenSLO)")
    wi.add_argument("--proposed", required=True, help="the policy to try")
    wi.add_argument("--events", nargs="+", metavar="JSONL",
                    help="history from these files (default: input_events of CLICKHOUSE_DSN)")
    wi.add_argument("--since", help="first instant of the history (ISO 8601, UTC if no offset)")
    wi.add_argument("--until", help="end of the history: deadlines fire up to it (default: now)")
    wi.add_argument("--customer", action="append", default=[], help="only this customer (repeatable)")
    wi.add_argument("--contract", action="append", default=[], help="only this contract (repeatable)")
    wi.add_argument("--csv", metavar="DIR", help="write sla.csv, probes.csv and changes.csv here")
    wi.add_argument("--format", choices=FORMATS, default="table",
                    help="stdout as tables (default), or the three tables as csv/tsv (one after another) "
                         "or json (one object per row, its table named)")
    wi.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with a chart")
    wi.add_argument("--check", action="store_true",
                    help="also compare the current policy's figures with the live tables of CLICKHOUSE_DSN")
    wi.set_defaults(func=cmd_whatif)

    pt = sub.add_parser("portal", help="serve the SLA portal from CLICKHOUSE_DSN (users: PORTAL_USERS_FILE)")
    pt.add_argument("--port", type=int, help="default PORTAL_PORT (8080)")
    pt.add_argument("--bind", help="default PORTAL_BIND (127.0.0.1)")
    pt.set_defaults(func=cmd_portal)
    tk = sub.add_parser("portal-token", help="make a portal access token; prints it and the users-file entry")
    who = tk.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="the customer whose contracts the token shows")
    who.add_argument("--analyst", action="store_true", help="a token that sees every customer")
    tk.add_argument("--name", help="the user's name in the users file (default: the customer, or analyst)")
    tk.set_defaults(func=cmd_portal_token)

    dm = sub.add_parser("demo", help="end-to-end demo on the local broker and embedded ClickHouse")
    dm.add_argument("--seconds", type=float, default=10.0)
    dm.add_argument("--rate", type=float, default=1000.0)
    dm.add_argument("--time-scale", type=float, default=30.0)
    dm.add_argument("--workers", type=int, default=1, help="worker processes in one consumer group (one per core)")
    dm.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `slastream` console script."""
    args = parser().parse_args(argv)
    if args.command == "worker":
        sys.argv = [sys.argv[0], "worker"]  # Faust's Worker reads sys.argv
    if not args.debug:  # e.g. a refused connection: the one line below says it
        logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except (UserError, RunFailed) as exc:
        if args.debug:
            raise
        print(f"slastream: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
