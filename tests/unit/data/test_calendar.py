"""NYSE trading calendar against the exchange's published holiday lists."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from gridbt.data.calendar import is_trading_day, nyse_holidays, trading_days

D = dt.date

# Full-day closures as published by NYSE (nyse.com/markets/hours-calendars and its archives).
PUBLISHED = {
    2015: [D(2015, 1, 1), D(2015, 1, 19), D(2015, 2, 16), D(2015, 4, 3), D(2015, 5, 25),
           D(2015, 7, 3), D(2015, 9, 7), D(2015, 11, 26), D(2015, 12, 25)],
    2020: [D(2020, 1, 1), D(2020, 1, 20), D(2020, 2, 17), D(2020, 4, 10), D(2020, 5, 25),
           D(2020, 7, 3), D(2020, 9, 7), D(2020, 11, 26), D(2020, 12, 25)],
    2021: [D(2021, 1, 1), D(2021, 1, 18), D(2021, 2, 15), D(2021, 4, 2), D(2021, 5, 31),
           D(2021, 7, 5), D(2021, 9, 6), D(2021, 11, 25), D(2021, 12, 24)],
    2022: [D(2022, 1, 17), D(2022, 2, 21), D(2022, 4, 15), D(2022, 5, 30), D(2022, 6, 20),
           D(2022, 7, 4), D(2022, 9, 5), D(2022, 11, 24), D(2022, 12, 26)],
    2023: [D(2023, 1, 2), D(2023, 1, 16), D(2023, 2, 20), D(2023, 4, 7), D(2023, 5, 29),
           D(2023, 6, 19), D(2023, 7, 4), D(2023, 9, 4), D(2023, 11, 23), D(2023, 12, 25)],
    2024: [D(2024, 1, 1), D(2024, 1, 15), D(2024, 2, 19), D(2024, 3, 29), D(2024, 5, 27),
           D(2024, 6, 19), D(2024, 7, 4), D(2024, 9, 2), D(2024, 11, 28), D(2024, 12, 25)],
    # Juneteenth on a Saturday is observed on Friday June 18
    2027: [D(2027, 1, 1), D(2027, 1, 18), D(2027, 2, 15), D(2027, 3, 26), D(2027, 5, 31),
           D(2027, 6, 18), D(2027, 7, 5), D(2027, 9, 6), D(2027, 11, 25), D(2027, 12, 24)],
}

# Trading days per year: weekdays minus the weekday closures above (NYSE fact sheets).
TRADING_DAYS = {2015: 252, 2020: 253, 2021: 252, 2022: 251, 2023: 250, 2024: 252}


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_holidays_match_the_published_list(year: int) -> None:
    assert nyse_holidays(year) == frozenset(PUBLISHED[year])


def test_new_year_on_saturday_is_not_observed_on_the_friday_before() -> None:
    assert D(2022, 1, 1).weekday() == 5
    assert D(2021, 12, 31) not in nyse_holidays(2021)
    assert is_trading_day(D(2021, 12, 31))
    assert not any(day.month == 12 and day.day == 31 for day in nyse_holidays(2022))


def test_juneteenth_only_from_2022() -> None:
    assert not any(day.month == 6 for day in nyse_holidays(2021))
    assert is_trading_day(D(2021, 6, 18))
    assert not is_trading_day(D(2022, 6, 20))  # Sunday June 19 observed on Monday


@pytest.mark.parametrize(("year", "count"), sorted(TRADING_DAYS.items()))
def test_trading_days_in_a_full_year(year: int, count: int) -> None:
    days = trading_days(D(year, 1, 1), D(year, 12, 31))
    assert days.dtype == np.int32
    assert len(days) == count
    assert np.all(np.diff(days) > 0)
    dates = [D(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days]
    assert all(d.weekday() < 5 for d in dates)
    assert not set(dates) & set(PUBLISHED[year])


def test_trading_days_bounds_are_inclusive() -> None:
    friday, monday = D(2024, 3, 8), D(2024, 3, 11)
    epoch = D(1970, 1, 1)
    np.testing.assert_array_equal(trading_days(friday, monday),
                                  [(friday - epoch).days, (monday - epoch).days])
    assert len(trading_days(D(2024, 3, 9), D(2024, 3, 10))) == 0  # a weekend
    assert len(trading_days(D(2024, 3, 29), D(2024, 3, 29))) == 0  # Good Friday
    assert len(trading_days(monday, friday)) == 0  # empty range


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2024, 3, 28), True),  # Thursday before Good Friday
        (D(2024, 3, 29), False),  # Good Friday
        (D(2024, 3, 30), False),  # Saturday
        (D(2024, 3, 31), False),  # Sunday
        (D(2024, 11, 29), True),  # day after Thanksgiving (early close, still a trading day)
        (D(2024, 12, 24), True),  # Christmas Eve (early close)
        (D(2020, 7, 3), False),  # July 4 on a Saturday, observed Friday
        (D(2021, 7, 5), False),  # July 4 on a Sunday, observed Monday
        (D(2022, 12, 26), False),  # Christmas on a Sunday, observed Monday
        (D(2021, 12, 24), False),  # Christmas on a Saturday, observed Friday
    ],
)
def test_is_trading_day(day: dt.date, expected: bool) -> None:
    assert is_trading_day(day) is expected


@pytest.mark.parametrize(
    "day",
    [
        D(2001, 9, 11), D(2001, 9, 14),  # September 11 attacks
        D(2004, 6, 11),  # President Reagan's funeral
        D(2007, 1, 2),  # President Ford's funeral
        D(2012, 10, 29), D(2012, 10, 30),  # Hurricane Sandy
        D(2018, 12, 5),  # President G. H. W. Bush's funeral
        D(2025, 1, 9),  # President Carter's funeral
    ],
)
def test_unscheduled_closures_are_not_trading_days(day: dt.date) -> None:
    assert day.weekday() < 5
    assert not is_trading_day(day)


def test_martin_luther_king_day_closes_the_exchange_from_1998() -> None:
    assert is_trading_day(D(1997, 1, 20))
    assert not is_trading_day(D(1998, 1, 19))
