"""`slastream replay` on a scenario with out-of-order, duplicate and bad lines.

tests/data/replay/expected.jsonl was written by hand from the scenario:
- T1 reply at 10:05 (5m): response met. T1 solved 11:01: resolution (1h) breached 11:00, missed.
- T2 paused 10:10-10:40 after 8m: response (15m) deadline 10:47, resolution 10:40 + 52m = 11:32.
- T3 opened 10:30; when the watermark reaches 11:01 its response breach (10:45) fires; then its
  reply of 10:44 arrives late: a correction retracts the breach and `met` (14m) follows.
- Line 5 repeats e3 (ignored); lines 6 and 9 are bad and skipped.
The `#n` in `corrects` refers to the n-th output line. A status row's version is the
entity's applied events plus the instance's published lifecycle events (T1: 3 events).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

DATA = Path(__file__).resolve().parents[3] / "data" / "replay"


def run_replay(*extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", "--policy", str(DATA / "policy.yaml"),
         str(DATA / "scenario.jsonl"), "--skip-bad", *extra],
        capture_output=True, check=True,
    )


def test_replay_matches_the_hand_written_expectation() -> None:
    result = run_replay("--final")
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    expected = [orjson.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
    assert len(lines) == len(expected)
    ids = [line.get("event_id") for line in lines]
    for n, (got, want) in enumerate(zip(lines, expected), start=1):
        if want.get("corrects"):
            want["corrects"] = ids[int(want["corrects"][1:]) - 1]
        assert {k: got[k] for k in want} == want, f"output line {n}"
    stderr = result.stderr.decode()
    assert "skipped line 6: occurred_at: Field required" in stderr
    assert "skipped line 9: not valid JSON" in stderr
    assert "replayed 9 events, skipped 2 bad lines" in stderr


def test_replay_is_byte_identical_across_runs(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_replay("--out", str(first))
    run_replay("--out", str(second))
    assert first.read_bytes() == second.read_bytes() and first.read_bytes()


def test_an_instant_out_of_range_is_a_bad_line_like_the_others(tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    good = orjson.loads((DATA / "scenario.jsonl").read_text().splitlines()[0])
    lines.write_bytes(orjson.dumps({**good, "occurred_at": "0001-01-01T00:00:00+01:00"}) + b"\n" + orjson.dumps(good))
    result = subprocess.run([sys.executable, "-m", "streams.cli", "replay", "--policy", str(DATA / "policy.yaml"),
                             str(lines), "--skip-bad"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert "skipped line 1: occurred_at: Value error, must lie between the years 1970 and 2999" in result.stderr.decode()
    assert "replayed 1 events, skipped 1 bad lines" in result.stderr.decode()
