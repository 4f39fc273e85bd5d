"""Every user mistake at the CLI: one line naming the problem and the fix, and exit code 2.

Nothing here needs a broker or a ClickHouse server: the mistakes are exactly that they
are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from schemas.errors import INPUT_PROBLEMS, OK, USAGE

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
REPLAY = Path(__file__).resolve().parents[2] / "data" / "replay"
NO_KAFKA = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "KAFKA_CONNECT_TIMEOUT_S": "1"}


def slastream(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "SLASTREAM_CONFIG" and not k.startswith(("KAFKA_", "CLICKHOUSE_"))}
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**clean, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), **env}, timeout=60)


def one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert (result.returncode, len(lines)) == (code, 1), result.stderr
    assert lines[0].startswith("slastream: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.mark.parametrize("args", [
    ("policy", "validate", "missing.yaml"),
    ("policy", "validate", str(EXAMPLES / "policy.yaml"), "--openslo", "missing.yaml"),
    ("replay", "--policy", "missing.yaml", str(REPLAY / "scenario.jsonl")),
    ("replay", "--policy", str(REPLAY / "policy.yaml"), "missing.yaml"),
])
def test_a_missing_file_is_named(args: tuple[str, ...], tmp_path: Path) -> None:
    one_line(slastream(*args, cwd=tmp_path), USAGE, "missing.yaml", "no such file")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = slastream("--debug", "policy", "validate", "missing.yaml", cwd=tmp_path)
    assert result.returncode != OK and "Traceback" in result.stderr


@pytest.mark.parametrize("args", [("topics", "create"), ("worker",), ("sink",), ("produce", "--duration", "1")])
def test_unreachable_kafka_is_named_before_anything_is_written(args: tuple[str, ...], tmp_path: Path) -> None:
    chdb = tmp_path / "chdb"
    result = slastream(*args, cwd=tmp_path, CLICKHOUSE_DSN=f"chdb://{chdb}", DATA_DIR=str(tmp_path / "w"), **NO_KAFKA)
    one_line(result, USAGE, "cannot reach Kafka at 127.0.0.1:1 within 1 s", "KAFKA_BOOTSTRAP_SERVERS")
    assert not chdb.exists() and not (tmp_path / "w").exists()


@pytest.mark.parametrize("dsn, words", [
    ("not-a-dsn", ("'not-a-dsn' is not a ClickHouse address", "chdb:///")),
    ("chdb://relative/path", ("must be absolute",)),
    ("http://user:hunter2@127.0.0.1:1", ("cannot reach ClickHouse at http://user:***@127.0.0.1:1", "refused")),
    ("http://admin@127.0.0.1:1/db?password=hunter2", ("cannot reach ClickHouse at http://admin@127.0.0.1:1/db?password=***",
                                                     "refused")),
])
def test_a_bad_or_unreachable_clickhouse_is_named(dsn: str, words: tuple[str, ...], tmp_path: Path) -> None:
    line = one_line(slastream("db", "migrate", cwd=tmp_path, CLICKHOUSE_DSN=dsn), USAGE, *words)
    assert "hunter2" not in line
    assert list(tmp_path.iterdir()) == []  # no stray directory from a relative path


def test_settings_mistakes_never_show_a_secret(tmp_path: Path) -> None:
    config = tmp_path / "slastream.yaml"
    config.write_text("kafka_sasl_pasword: hunter2\n")
    line = one_line(slastream("topics", "create", cwd=tmp_path, SLASTREAM_CONFIG=str(config)), USAGE,
                    "kafka_sasl_pasword")
    assert "hunter2" not in line
    one_line(slastream("topics", "create", cwd=tmp_path, SLASTREAM_CONFIG="nope.yaml"), USAGE, "nope.yaml")
    one_line(slastream("topics", "create", cwd=tmp_path, TOPIC_PARTITIONS="six"), USAGE, "TOPIC_PARTITIONS")


def test_replay_takes_events_as_documented_and_fails_on_skipped_lines(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event_id": "e1", "occurred_at": "2026-11-27T10:00:00Z", "source": "desk", "ticket_id": "T1",'
        ' "customer": "acme", "service": "checkout", "priority": "P1", "status": "new"}\n'
        '{"event_id": "e2", "occurred_at": "2026-11-27T10:00:00Z", "source": "x"}\n'
    )
    policy = str(REPLAY / "policy.yaml")
    strict = slastream("replay", "--policy", policy, str(events), "--final", cwd=tmp_path)
    assert strict.returncode == INPUT_PROBLEMS
    assert "skipped line 2: cannot tell the event kind" in strict.stderr
    assert '"entity_id":"T1"' in strict.stdout  # line 1 had no `kind` and was replayed
    assert slastream("replay", "--policy", policy, str(events), "--skip-bad", cwd=tmp_path).returncode == OK
    wrong = slastream("replay", "--policy", policy, str(events), "--kind", "incident", "--skip-bad", cwd=tmp_path)
    assert "replayed 0 events" in wrong.stderr


def migrated(tmp_path: Path) -> str:
    """A chDB DSN with slastream's tables (readers refuse a database without them)."""
    dsn = f"chdb://{tmp_path / 'chdb'}"
    assert slastream("db", "migrate", cwd=tmp_path, CLICKHOUSE_DSN=dsn).returncode == OK
    return dsn


@pytest.mark.parametrize("args", [
    ("query", "SELECT 1"),
    ("whatif", "--policy", str(EXAMPLES / "policy.yaml"), "--proposed", str(EXAMPLES / "policy.yaml")),
    ("portal",),
])
def test_readers_refuse_a_database_without_slastream_tables_and_create_nothing(args: tuple[str, ...],
                                                                              tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("users: []\n")
    env = {"PORTAL_USERS_FILE": str(users)}
    # No DSN: the default, var/chdb under the working directory, which does not exist.
    one_line(slastream(*args, cwd=tmp_path, **env), USAGE, "no slastream database at", "slastream db migrate")
    assert not (tmp_path / "var").exists()
    typo = tmp_path / "chbd"
    one_line(slastream(*args, cwd=tmp_path, CLICKHOUSE_DSN=f"chdb://{typo}", **env), USAGE, str(typo))
    assert not typo.exists()
    other = tmp_path / "other"  # a database with tables, none of them slastream's
    made = subprocess.run([sys.executable, "-c", "import sys; from sinks.clickhouse import connect; c = connect(sys.argv[1]); "
                           "c.command('CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x')", f"chdb://{other}"],
                          cwd=Path(__file__).resolve().parents[3], timeout=60)
    assert made.returncode == 0
    one_line(slastream(*args, cwd=tmp_path, CLICKHOUSE_DSN=f"chdb://{other}", **env), USAGE,
             "the database has no slastream tables")


def test_query_prints_full_width_into_a_pipe_and_csv_tsv_json_for_scripts(tmp_path: Path) -> None:
    dsn = migrated(tmp_path)
    sql = "SELECT number AS n, repeat('x', 70) AS wide, 'a,b' AS s, NULL AS nothing FROM numbers(2)"
    table = slastream("query", sql, cwd=tmp_path, CLICKHOUSE_DSN=dsn)
    assert table.returncode == OK and "x" * 70 in table.stdout and "NULL" in table.stdout  # not cut to 80 columns
    outputs = {f: slastream("query", "--format", f, sql, cwd=tmp_path, CLICKHOUSE_DSN=dsn).stdout for f in ("csv", "tsv", "json")}
    wide = "x" * 70
    assert outputs["csv"].splitlines() == ["n,wide,s,nothing", f'0,{wide},"a,b",', f'1,{wide},"a,b",']
    assert outputs["tsv"].splitlines() == ["n\twide\ts\tnothing", f"0\t{wide}\ta,b\t", f"1\t{wide}\ta,b\t"]
    assert [orjson.loads(line) for line in outputs["json"].splitlines()] == [
        {"n": n, "wide": wide, "s": "a,b", "nothing": None} for n in (0, 1)]


def test_query_prints_rows_and_names_a_refused_query(tmp_path: Path) -> None:
    dsn = migrated(tmp_path)
    ok = slastream("query", "SELECT 6 * 7 AS answer", cwd=tmp_path, CLICKHOUSE_DSN=dsn)
    assert ok.returncode == OK and "answer" in ok.stdout and "42" in ok.stdout
    one_line(slastream("query", "SELECT nope", cwd=tmp_path, CLICKHOUSE_DSN=dsn), USAGE, "refused the query", "nope")
