"""Burn rates and multi-window alerts, with expectations computed by hand.

Objective 99.9 % (budget 0.1 %), 60 probe results per minute. Before the outage there are
3 days of good minutes, so the long windows are full.
"""

from datetime import datetime, timedelta

import pytest
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.policy import GOOGLE_SRE_DEFAULT, BurnRateAlert
from streams.engine.slo import ErrorSeries, Ring, budget_remaining, epoch_minute, evaluate, minute_start

RULES = tuple(BurnRateAlert.model_validate(r) for r in GOOGLE_SRE_DEFAULT)
from tests.unit.streams.conftest import utc

OBJ = 0.999
T0 = utc("2026-11-01 00:00")


def history(days: int = 3) -> tuple[ErrorSeries, datetime]:
    series = ErrorSeries()
    minute = T0
    for _ in range(days * 24 * 60):
        series.add(minute, 60, 0)
        minute += timedelta(minutes=1)
    return series, minute  # `minute` = end of the history


def run_minutes(series: ErrorSeries, start: datetime, bad_per_minute: list[int], firing=frozenset()):
    """Add minutes one by one, evaluating after each; returns changes as (rule, state, minutes after start)."""
    seen = []
    minute = start
    for bad in bad_per_minute:
        series.add(minute, 60, bad)
        minute += timedelta(minutes=1)
        firing, changes = evaluate(series, OBJ, RULES, minute, firing)
        seen += [(c.rule.name, c.state, int((c.at - start).total_seconds() // 60)) for c in changes]
    return seen, firing


def test_one_bad_minute_pages_fast_and_resolves_when_it_leaves_the_short_window() -> None:
    series, end = history()
    # Minute 0 all bad: 1 h burn = (60/3600)/0.001 = 16.7 >= 14.4; 5 m burn = (60/300)/0.001 = 200.
    # 6 h burn = (60/21600)/0.001 = 2.8 < 6, 3 d burn = 0.23 < 1: only page-1h fires, at the end of minute 0.
    # It leaves the 5 m window [end-5m, end) when end = start + 6 min.
    seen, firing = run_minutes(series, end, [60] + [0] * 10)
    assert seen == [("page-1h", "firing", 1), ("page-1h", "resolved", 6)]
    assert firing == frozenset()


def test_a_slow_burn_pages_on_the_six_hour_rule_only() -> None:
    series, end = history()
    # 1 bad result in every minute: error rate 1/60 = 1.67 % -> burn 16.7 on every window that is
    # entirely inside the burn. 6 h rule: needs 6 h burn >= 6, i.e. 6 h error rate >= 0.6 %:
    # after n minutes, n/21600 >= 0.006 -> n >= 129.6, so it fires after minute 130 (the 30 m window
    # is full of bad minutes since minute 30). The 1 h rule fires as soon as the 1 h rate reaches
    # 1.44 %: n/3600 >= 0.0144 -> n >= 51.84, at 52 minutes.
    seen, _ = run_minutes(series, end, [1] * 131)
    assert seen == [("page-1h", "firing", 52), ("page-6h", "firing", 130)]


@pytest.mark.parametrize(("bad", "expected"), [(0, 1.0), (9, 0.75), (36, 0.0), (72, -1.0)])
def test_budget_remaining(bad: int, expected: float) -> None:
    # Objective 99 % over one hour of 3600 results: the budget is 36 bad results.
    series = ErrorSeries()
    for m in range(60):
        series.add(T0 + timedelta(minutes=m), 60, bad if m == 17 else 0)
    assert budget_remaining(series, 0.99, T0 + timedelta(hours=1), timedelta(hours=1)) == pytest.approx(expected)
    assert budget_remaining(ErrorSeries(), 0.99, T0, timedelta(hours=1)) == 1.0  # no data, nothing spent


def test_state_stays_bounded_for_thirty_days() -> None:
    series = ErrorSeries()
    minute = T0
    for _ in range(40 * 24 * 60):
        series.add(minute, 1, 0)
        minute += timedelta(minutes=1)
    assert len(series.minutes) == 6 * 60
    assert len(series.hours) <= 30 * 24 + 1  # swept once an hour
    assert series.counts(minute, timedelta(days=30)) == (30 * 24 * 60, 0)


def test_every_rule_fires_and_resolves() -> None:
    series, end = history()
    # 9 bad results a minute (15 %) for 30 minutes, then none. Evaluated after minute n:
    # page-1h: 1 h rate 9n/3600 >= 1.44 % from n = 6 (5 m rate 15 %); resolves when the 5 m
    #   window holds no bad minute: n = 35.
    # page-6h: 6 h rate 9n/21600 >= 0.6 % from n = 15; resolves when the 30 m window holds at
    #   most one bad minute (9/1800 = 0.5 % < 0.6 %): n = 59.
    # ticket-3d: the 3 d window is whole hours (the hour holding its start is left out: ~257k
    #   results), so 9n >= 257.5 from n = 29; resolves when the 6 h window holds at most two
    #   bad minutes (18/21600 < 0.1 %): n = 388.
    seen, firing = run_minutes(series, end, [9] * 30 + [0] * 370)
    assert seen == [
        ("page-1h", "firing", 6), ("page-6h", "firing", 15), ("ticket-3d", "firing", 29),
        ("page-1h", "resolved", 35), ("page-6h", "resolved", 59), ("ticket-3d", "resolved", 388),
    ]
    assert firing == frozenset()


ring_cases = given(
    size=st.integers(1, 12),
    adds=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5), st.integers(0, 5)), max_size=60),
    first=st.integers(-5, 45), length=st.integers(0, 50),
)


def filled(size: int, adds: list[tuple[int, int, int]]) -> Ring:
    ring = Ring(size)
    for key, total, bad in sorted(adds[: len(adds) // 2]) + adds[len(adds) // 2:]:  # in order, then any order
        ring.add(key, total, min(bad, total))
    return ring


@settings(max_examples=300, deadline=None)
@ring_cases
def test_ring_sums_are_the_sums_of_the_cells_it_holds(size, adds, first, length) -> None:
    ring = filled(size, adds)
    newest = max((k for k, _, _ in adds), default=-1)
    last = first + length
    held = {k: c for k, c in ring.cells().items() if k > newest - size and max(first, last - size) <= k < last}
    want = sum(t for t, _ in held.values()), sum(b for _, b in held.values())
    assert ring.sum(first, last) == want


@settings(max_examples=300, deadline=None)
@ring_cases
def test_a_ring_written_densely_and_read_back_holds_the_same_cells_and_sums(size, adds, first, length) -> None:
    """dense() (the stored form, sliced from the arrays) says what the cells say, and Ring.of
    gives back the ring that adding the stored cells one by one gives (what loading did before)."""
    ring = filled(size, adds)
    cells = ring.cells()
    want = (min(cells), [cells.get(k, (0, 0))[0] for k in range(min(cells), max(cells) + 1)],
            [cells.get(k, (0, 0))[1] for k in range(min(cells), max(cells) + 1)]) if cells else (0, [], [])
    assert ring.dense() == want
    start, totals, bads = want
    one_by_one = Ring(size)
    for i, (t, b) in enumerate(zip(totals, bads)):
        if t:
            one_by_one.add(start + i, t, b)
    loaded = Ring.of(size, start, totals, bads)
    assert loaded.cells() == one_by_one.cells() and loaded.dense() == one_by_one.dense()
    assert loaded.sum(first, first + length) == one_by_one.sum(first, first + length)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 50), st.integers(0, 50)), max_size=60),
       st.integers(0, 3100), st.integers(1, 5 * 24 * 3600))
def test_burn_rate_before_a_minute_equals_burn_rate_at_its_start(cells, stop, window_s) -> None:
    """The integer fast path used every minute agrees with the datetime one (windows of any
    length, whole minutes or not, finer or coarser than the minute ring)."""
    series = ErrorSeries(timedelta(hours=6), timedelta(days=30))
    base = epoch_minute(utc("2026-11-01 00:00"))
    for minute, total, bad in sorted(cells):
        series.add(minute_start(base + minute), total + bad, bad)
    window = timedelta(seconds=window_s)
    assert series.burn_rate_before(base + stop, window, 0.999) == series.burn_rate(minute_start(base + stop), window, 0.999)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 40), st.integers(0, 5)), max_size=80),
       st.integers(1, 2100), st.sets(st.sampled_from([r.name for r in RULES])), st.integers(1, 30))
def test_evaluate_is_every_rule_judged_on_both_windows(cells, stop, firing, min_results) -> None:
    """evaluate's shortcuts (no bad result in any short window, the short window first) change
    nothing: the same rules fire, with the same changes, as judging every rule on its own."""
    series = ErrorSeries(timedelta(hours=6), timedelta(days=30))
    base = epoch_minute(T0)
    for minute, total, bad in sorted(cells):
        series.add(minute_start(base + minute), total + bad, bad)
    end = minute_start(base + stop)
    expected, changes = set(firing), []
    for rule in RULES:
        long_n = series.counts(end, rule.long)[0]
        on = (series.burn_rate(end, rule.long, OBJ) >= rule.factor and series.burn_rate(end, rule.short, OBJ) >= rule.factor
              and (rule.name in firing or long_n >= min_results))
        if on != (rule.name in firing):
            changes.append((rule.name, "firing" if on else "resolved"))
            expected.symmetric_difference_update({rule.name})
    now, got = evaluate(series, OBJ, RULES, end, frozenset(firing), min_results)
    assert now == expected and [(c.rule.name, c.state) for c in got] == changes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(0, 600), st.integers(0, 60 * 24 * 40)), st.integers(0, 50),
                          st.integers(0, 50), st.booleans()), max_size=300))
def test_a_series_written_as_a_snapshot_and_the_adds_since_reads_back_the_same(adds) -> None:
    """to_json writes the cells of its last snapshot and the adds since (a snapshot every
    SNAPSHOT_EVERY adds): read back at any point, and added to again, the series holds the same
    cells and sums as one that was never written."""
    base = epoch_minute(T0)
    kept = ErrorSeries(timedelta(hours=6), timedelta(days=30))
    written = ErrorSeries(timedelta(hours=6), timedelta(days=30))
    for minute, total, bad, write in sorted(adds):
        for series in (kept, written):
            series.add(minute_start(base + minute), total + bad, bad)
        if write:  # a dump, and a takeover from it
            written = ErrorSeries.from_json(orjson.loads(orjson.dumps(written.to_json())), written.fine, written.horizon)
    assert written.minutes.cells() == kept.minutes.cells() and written.hours.cells() == kept.hours.cells()
    end = minute_start(base + (max(a[0] for a in adds) + 1 if adds else 0))
    for window in (timedelta(minutes=5), timedelta(hours=6), timedelta(days=3), timedelta(days=30)):
        assert written.counts(end, window) == kept.counts(end, window)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 50), st.integers(0, 50)), max_size=60),
       st.integers(0, 3100), st.integers(1, 40 * 24 * 60))
def test_error_rate_before_a_minute_equals_error_rate_at_its_start(cells, stop, window_min) -> None:
    """The integer path a status row takes agrees with the datetime one (whole-minute windows)."""
    series = ErrorSeries(timedelta(hours=6), timedelta(days=30))
    base = epoch_minute(utc("2026-11-01 00:00"))
    for minute, total, bad in sorted(cells):
        series.add(minute_start(base + minute), total + bad, bad)
    window = timedelta(minutes=window_min)
    assert series.error_rate_before(base + stop, window) == series.error_rate(minute_start(base + stop), window)


def test_a_series_never_written_keeps_no_list_of_adds() -> None:
    """What-if closes a month of minutes per service without writing entries: the adds since a
    snapshot are kept only once one was written (a month of them per objective would be MBs)."""
    series = ErrorSeries()
    for m in range(31 * 24 * 60):
        series.add(T0 + timedelta(minutes=m), 6, 0)
    assert series._since == []
    orjson.dumps(series.to_json())
    series.add(T0 + timedelta(days=31), 6, 1)
    assert series._since == [epoch_minute(T0 + timedelta(days=31)), 6, 1]
