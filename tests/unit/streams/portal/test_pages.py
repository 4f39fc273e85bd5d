"""What a page shows of a table: words for columns, durations and percentages in their units."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from streams.portal.pages import (Moment, burn_down, commitments, day_strip, duration, outcome_words, percent, summary,
                                  table, timeline)
from streams.portal.queries import Table


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (45.4, "45 s"), (60, "1 min"), (900, "15 min"), (125, "2 min 5 s"), (3600, "1 h"),
    (9000, "2 h 30 min"), (86400, "1 d"), (100800, "1 d 4 h"), (90061, "1 d 1 h"),
])
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_percentages_keep_the_decimals_that_say_something() -> None:
    assert (percent(99.861), percent(100.0), percent(99.5), percent(0.0)) == ("99.861 %", "100 %", "99.5 %", "0 %")


def test_a_table_shows_words_and_units_not_database_columns() -> None:
    t = Table("sla", "SLA", ["contract", "level", "target_s", "met_pct", "breached", "threshold", "at"],
              [("gold", "P1", 900.0, 99.86, 2, 0.75, datetime(2026, 11, 27, 10, 0)),
               ("gold", "P4", None, None, 0, None, None)])
    page = table(t, "/c/acme?csv=sla")
    for words in ("Contract", "Priority or severity", "Target", "Met on time", "Breached", "Warned at", "When (UTC)",
                  "15 min", "99.86 %", "75 % of the target", "2026-11-27 10:00:00"):
        assert words in page, words
    for column in ("target_s", "met_pct"):  # only as the attribute tests and scripts read
        assert f">{column}<" not in page and f"data-column='{column}'" in page
    assert "No data for this yet." in table(Table("x", "X", ["a"], []))


SLA = Table("sla", "SLA", ["contract", "metric", "level", "target_s", "instances", "met", "missed", "met_pct",
                           "breached", "open"],
            [("gold", "response", "P1", 900.0, 6, 4, 1, 80.0, 2, 1),  # one open past its deadline
             ("gold", "resolution", "P1", 3600.0, 5, 3, 0, 100.0, 0, 2),
             ("gold", "resolution", "P2", 7200.0, 2, 0, 0, None, 0, 2),
             ("gold", "response", "P4", None, 1, 1, 0, None, 0, 0)])  # no target: promises nothing
PROBES = Table("probes", "Probes", ["contract", "service", "results", "availability_pct", "objective_pct",
                                    "latency_ok_pct", "budget_left_pct", "credit_pct"],
               [("fast", "checkout", 1000, 99.5, 99.9, 98.0, -400.0, 10.0)])


def test_the_months_summary_says_which_commitments_were_kept_and_the_credit_owed() -> None:
    items = commitments(SLA, PROBES)
    assert [(c.what, c.state, c.detail) for c in items] == [
        ("gold: P1 response within 15 min", "missed", "2 of 6 missed (1 of them still open)"),
        ("gold: P1 resolution within 1 h", "met", "all 3 met; 2 still open"),
        ("gold: P2 resolution within 2 h", "open", "2 open, none decided yet"),
        ("fast: checkout available 99.9 % of the time", "missed",
         "99.5 % this month; service credit owed: 10 % of the monthly fee"),
    ]
    text = summary(items, date(2026, 11, 1), 10.0)
    assert "1 of 3</strong> commitments decided in November 2026 were met" in text
    assert "Service credit owed: <strong>10 %</strong>" in text and text.count("data-state='missed'") == 2
    assert "No service credit owed." in summary(items[1:2], date(2026, 11, 1), 0.0)
    assert "No commitments measured for November 2026 yet." in summary([], date(2026, 11, 1), 0.0)


def test_the_day_strip_colours_each_day_by_the_objective() -> None:
    days = [(date(2026, 11, d), v) for d, v in ((1, 99.95), (2, 99.5), (3, None), (4, 100.0), (5, 99.9))]
    strip = day_strip("Availability", days, 99.9)
    assert (strip.count("class='day met'"), strip.count("class='day missed'"), strip.count("class='day none'")) == (3, 1, 1)
    assert "3 of 4 days with results at or above the objective (99.9 %)" in strip
    assert "02 Nov 2026: 99.5 %" in strip and "03 Nov 2026: no results" in strip


def test_the_burn_down_labels_its_axes_and_marks_the_objective_and_an_even_spend() -> None:
    chart = burn_down("Budget", [(date(2026, 11, 1), 90.0), (date(2026, 11, 2), None), (date(2026, 11, 3), -20.0)], 30)
    for label in (">100 %<", ">50 %<", ">0 %<", ">-20 %<", ">1<", ">15<", ">30<", "class='goal'", "class='even'",
                  "03 Nov: -20 % left"):
        assert label in chart, label
    assert chart.count("<circle") == 2  # a day without results is no point
    overspent = burn_down("Budget", [(date(2026, 11, 1), -400.0)], 30)
    assert ">-100 %<" in overspent and ">-400 %<" not in overspent and "01 Nov: -400 % left" in overspent
    assert "no data" in burn_down("Budget", [(date(2026, 11, 1), None)], 30)


@pytest.mark.parametrize(("outcome", "elapsed", "target", "words"), [
    ("missed", 1140.0, 900.0, "missed by 4 min"), ("met", 720.0, 900.0, "met with 3 min to spare"),
    ("met", 60.0, None, "met"), (None, 60.0, 900.0, "not decided yet"),
    ("missed", 60.0, 900.0, "missed"),  # breached, then re-targeted to a longer target
])
def test_outcomes_say_by_how_much(outcome, elapsed: float, target, words: str) -> None:
    assert outcome_words(outcome, elapsed, target) == words


def test_the_timeline_lists_moments_earliest_first() -> None:
    text = timeline([Moment(datetime(2026, 11, 2, 10, 15), "breached", "Breached"),
                     Moment(datetime(2026, 11, 2, 10, 0), "input", "Ticket update <new>")])
    assert text.index("10:00:00") < text.index("10:15:00") and "&lt;new&gt;" in text
    assert "No events" in timeline([])
