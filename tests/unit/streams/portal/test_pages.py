"""What a page shows of a table: words for columns, durations and percentages in their units."""

from __future__ import annotations

from datetime import datetime

import pytest

from streams.portal.pages import duration, percent, table
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
    for words in ("Contract", "Priority", "Target", "Met on time", "Breached", "Warned at", "When (UTC)",
                  "15 min", "99.86 %", "75 % of the target", "2026-11-27 10:00:00"):
        assert words in page, words
    for column in ("target_s", "met_pct"):  # only as the attribute tests and scripts read
        assert f">{column}<" not in page and f"data-column='{column}'" in page
    assert "No data for this yet." in table(Table("x", "X", ["a"], []))
