from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api import periods as rule
from api.periods import Period
from dashboards.periods import PeriodError, parse_period

# A moment inside the second quarter of 2026, at 09:30 UTC.
NOW = datetime(2026, 5, 17, 9, 30, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_this_quarter_is_the_default() -> None:
    p = parse_period({}, NOW)
    assert (p.key, p.start, p.end) == ("this_quarter", utc(2026, 4, 1), utc(2026, 7, 1))


def test_the_period_is_read_as_of_djangos_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.utils.timezone.now", lambda: utc(2026, 11, 2, 8, 5))
    p = parse_period({})
    assert (p.start, p.data_end) == (utc(2026, 10, 1), utc(2026, 11, 2, 8))


def test_last_quarter_crosses_the_year() -> None:
    p = parse_period({"period": "last_quarter"}, utc(2026, 2, 3, 12))
    assert (p.start, p.end) == (utc(2025, 10, 1), utc(2026, 1, 1))


def test_the_last_30_days_include_today() -> None:
    p = parse_period({"period": "30d"}, NOW)
    assert p.days == 30
    assert p.last_day == NOW.date()


def test_years() -> None:
    assert parse_period({"period": "this_year"}, NOW).start == utc(2026, 1, 1)
    last = parse_period({"period": "last_year"}, NOW)
    assert (last.start.year, last.end.year, last.days) == (2025, 2026, 365)


def test_a_custom_range_includes_its_end_day() -> None:
    p = parse_period({"period": "custom", "start": "2026-01-01", "end": "2026-01-31"}, NOW)
    assert p.days == 31
    assert p.description == "1 Jan 2026 to 31 Jan 2026"
    assert "start=2026-01-01" in p.query() and "end=2026-01-31" in p.query()


def test_a_finished_custom_range_is_compared_with_the_same_length_just_before() -> None:
    p = parse_period({"period": "custom", "start": "2026-03-10", "end": "2026-03-19"}, NOW)
    assert not p.to_date and p.data_end == p.end
    prev = p.previous()
    assert prev.end == p.start
    assert prev.end - prev.start == p.end - p.start
    assert p.comparison.basis == "the 10 days before"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "start": "2026-13-01", "end": "2026-12-31"}, "not a valid date"),
        ({"period": "custom", "start": "yesterday", "end": "2026-12-31"}, "YYYY-MM-DD"),
        ({"period": "custom", "end": "2026-12-31"}, "needs a start date"),
        ({"period": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "before the start"),
        ({"period": "custom", "start": "1990-01-01", "end": "2026-01-01"}, "ten years"),
        ({"period": "fortnight"}, "Unknown period"),
        # The ends of Python's dates, where the day after or the year before overflow.
        ({"period": "custom", "start": "9999-12-30", "end": "9999-12-31"}, "outside the range"),
        ({"period": "custom", "start": "0001-01-01", "end": "0001-01-02"}, "outside the range"),
    ],
)
def test_it_explains_bad_periods(params: dict[str, str], message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(params, NOW)


def test_buckets_follow_the_length() -> None:
    assert parse_period({"period": "30d"}, NOW).bucket == "day"
    assert parse_period({"period": "this_quarter"}, NOW).bucket == "week"
    assert parse_period({"period": "this_year"}, NOW).bucket == "month"


def test_a_finished_calendar_quarter_or_year_is_compared_with_the_whole_previous_one() -> None:
    q2 = Period(utc(2026, 4, 1), utc(2026, 7, 1))
    assert (q2.previous().start, q2.previous().end) == (utc(2026, 1, 1), q2.start)
    q1 = Period(utc(2026, 1, 1), utc(2026, 4, 1))
    assert q1.previous().start == utc(2025, 10, 1)
    year = Period(utc(2026, 1, 1), utc(2027, 1, 1))
    assert year.previous().start == utc(2025, 1, 1)
    days = Period(utc(2026, 4, 1), utc(2026, 4, 11))
    assert days.previous().start == utc(2026, 3, 22)
    last = parse_period({"period": "last_quarter"}, utc(2026, 12, 1, 11, 47))
    assert not last.to_date
    assert (last.previous().start, last.previous().end) == (utc(2026, 4, 1), utc(2026, 7, 1))
    assert last.comparison.basis == "the previous quarter"


def test_this_quarter_is_compared_with_the_same_elapsed_hours_of_the_previous_one() -> None:
    # 1 Dec 2026 11:47: 61 days 11 hours of complete data since 1 Oct.
    p = parse_period({"period": "this_quarter"}, utc(2026, 12, 1, 11, 47))
    assert p.to_date
    assert (p.data_start, p.data_end) == (utc(2026, 10, 1), utc(2026, 12, 1, 11))
    prev = p.previous()
    assert (prev.start, prev.end) == (utc(2026, 7, 1), utc(2026, 8, 31, 11))
    assert prev.end - prev.start == p.data_end - p.data_start
    c = p.comparison
    assert c.text == (
        "1 Oct 2026 00:00 to 1 Dec 2026 11:00 UTC (to date) compared with "
        "1 Jul 2026 00:00 to 31 Aug 2026 11:00 UTC "
        "(the first 61 days 11 hours of the previous quarter)"
    )


def test_at_midnight_the_ranges_are_whole_days() -> None:
    p = parse_period({"period": "this_quarter"}, utc(2026, 12, 1, 0, 20))
    assert p.comparison.current.describe() == "1 Oct 2026 to 30 Nov 2026"
    assert p.comparison.other.describe() == "1 Jul 2026 to 30 Aug 2026"


def test_this_year_and_the_last_30_days_are_compared_like_for_like() -> None:
    year = parse_period({"period": "this_year"}, NOW)
    assert (year.previous().start, year.previous().end) == (utc(2025, 1, 1), utc(2025, 5, 17, 9))
    days = parse_period({"period": "30d"}, NOW)
    assert days.to_date and days.data_end == utc(2026, 5, 17, 9)
    prev = days.previous()
    assert prev.start == days.start - timedelta(days=30)
    assert prev.end - prev.start == timedelta(days=29, hours=9)
    assert days.comparison.basis == "the first 29 days 9 hours of the 30 days before"


def test_after_a_shorter_quarter_the_whole_of_it_is_compared() -> None:
    # Q2 2027 has 91 days, Q1 2027 90: on 30 Jun at 12:00, 90 days 12 hours have passed.
    p = parse_period({"period": "this_quarter"}, utc(2027, 6, 30, 12, 10))
    prev = p.previous()
    assert (prev.start, prev.end) == (utc(2027, 1, 1), utc(2027, 4, 1))
    assert prev.end <= p.start
    assert p.comparison.basis == (
        "all of the previous quarter, which is shorter than the 90 days 12 hours elapsed"
    )


def test_in_the_first_hour_nothing_is_compared_yet() -> None:
    p = parse_period({"period": "this_quarter"}, utc(2026, 10, 1, 0, 40))
    assert p.data_end == p.start
    assert p.previous().start == p.previous().end == utc(2026, 7, 1)
    assert p.comparison.basis.startswith("nothing yet")


def test_a_year_before_moves_29_february_to_28_february() -> None:
    span = rule.Span(utc(2028, 2, 1), utc(2028, 3, 1))
    assert rule.year_before(span) == rule.Span(utc(2027, 2, 1), utc(2027, 3, 1))
    leap = rule.Span(utc(2028, 2, 29), utc(2028, 3, 1))
    assert rule.year_before(leap).start == utc(2027, 2, 28)
    q = rule.compare(
        rule.Span(utc(2026, 10, 1), utc(2027, 1, 1)), utc(2026, 12, 1, 11, 5), "year_before"
    )
    assert (q.other.start, q.other.end) == (utc(2025, 10, 1), utc(2025, 12, 1, 11))
    assert q.basis == "the first 61 days 11 hours of the same quarter a year before"


def test_a_period_at_the_ends_of_pythons_dates_is_a_clear_400_page(db: None) -> None:
    from tests.cast import make_cast

    cast = make_cast()
    client = cast.client_for("owner")
    for start, end in (("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")):
        page = client.get(f"/o/{cast.org.uuid}/?period=custom&start={start}&end={end}")
        assert page.status_code == 400, (start, page.status_code)
        assert b"outside the range the hub reads" in page.content
    with pytest.raises(ValueError, match="outside the range"):
        rule.parse_quarter("9999Q4")
