from schemas.policy import MaintenanceWindow
from streams.engine.maintenance import Maintenance
from tests.unit.streams.conftest import utc

WINDOWS = Maintenance([
    MaintenanceWindow(start=utc("2026-12-05 22:00"), end=utc("2026-12-06 02:00")),
    MaintenanceWindow(weekly="sun 02:00-04:00", timezone="Europe/Berlin"),
])


def test_one_off_window_is_half_open() -> None:
    assert not WINDOWS.covers(utc("2026-12-05 21:59"))
    assert WINDOWS.covers(utc("2026-12-05 22:00"))
    assert WINDOWS.covers(utc("2026-12-06 00:59"))  # 01:59 CET, not yet the weekly one
    assert not WINDOWS.covers(utc("2026-12-06 03:00"))  # 04:00 CET Sunday: just ended


def test_weekly_window_in_local_time_across_dst() -> None:
    # Sunday 02:00-04:00 Berlin: in winter (CET) 01:00-03:00Z, in summer (CEST) 00:00-02:00Z.
    assert WINDOWS.covers(utc("2026-12-13 01:00")) and not WINDOWS.covers(utc("2026-12-13 00:59"))
    assert WINDOWS.covers(utc("2026-12-13 02:59")) and not WINDOWS.covers(utc("2026-12-13 03:00"))
    assert WINDOWS.covers(utc("2026-07-12 00:00")) and not WINDOWS.covers(utc("2026-07-12 02:00"))
    assert not WINDOWS.covers(utc("2026-12-12 01:30"))  # a Saturday
