"""The stored calendar (services/vn_calendar.json) is exactly what `holidays` computes."""

from __future__ import annotations

import json
from datetime import date
from importlib.metadata import version

from services import workdays


def test_the_stored_calendar_is_the_installed_librarys_or_is_not_used() -> None:
    data = json.loads(workdays.CALENDAR_FILE.read_text(encoding="utf-8"))
    stored = workdays._computed()
    if data["holidays"] != version("holidays"):
        # A fresh install took a newer `holidays` (it may know new swaps): the library
        # answers every year, so a release upstream never makes the bot wrong or this
        # suite red; `python -m scripts.vn_calendar` brings the memory saving back.
        assert stored == {}
        return
    assert sorted(stored) == [int(y) for y in data["years"]]
    assert 2024 in stored and 2030 in stored
    for year, days in stored.items():
        assert days == workdays.from_library(year), year


def test_the_stored_calendar_holds_tet_and_the_swapped_saturday() -> None:
    off, worked = workdays._computed()[2024]
    assert date(2024, 2, 10) in off  # Tết Giáp Thìn
    assert date(2024, 5, 4) in worked  # worked for the bridged 29/04/2024
    assert not workdays.is_working_day(date(2024, 2, 12))
    assert workdays.is_working_day(date(2024, 5, 4))
