from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dashboards.periods import PeriodError, parse_period

TODAY = date(2026, 5, 17)


def test_this_quarter_is_the_default() -> None:
    p = parse_period({}, TODAY)
    assert (p.key, p.start, p.end) == (
        "this_quarter",
        datetime(2026, 4, 1, tzinfo=UTC),
        datetime(2026, 7, 1, tzinfo=UTC),
    )


def test_last_quarter_crosses_the_year() -> None:
    p = parse_period({"period": "last_quarter"}, date(2026, 2, 3))
    assert (p.start, p.end) == (datetime(2025, 10, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def test_the_last_30_days_include_today() -> None:
    p = parse_period({"period": "30d"}, TODAY)
    assert p.days == 30
    assert p.last_day == TODAY


def test_years() -> None:
    assert parse_period({"period": "this_year"}, TODAY).start == datetime(2026, 1, 1, tzinfo=UTC)
    last = parse_period({"period": "last_year"}, TODAY)
    assert (last.start.year, last.end.year, last.days) == (2025, 2026, 365)


def test_a_custom_range_includes_its_end_day() -> None:
    p = parse_period({"period": "custom", "start": "2026-01-01", "end": "2026-01-31"}, TODAY)
    assert p.days == 31
    assert p.description == "1 Jan 2026 to 31 Jan 2026"
    assert "start=2026-01-01" in p.query() and "end=2026-01-31" in p.query()


def test_the_previous_period_has_the_same_length_and_ends_at_the_start() -> None:
    p = parse_period({"period": "custom", "start": "2026-03-10", "end": "2026-03-19"}, TODAY)
    prev = p.previous()
    assert prev.end == p.start
    assert prev.end - prev.start == p.end - p.start


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "start": "2026-13-01", "end": "2026-12-31"}, "not a valid date"),
        ({"period": "custom", "start": "yesterday", "end": "2026-12-31"}, "YYYY-MM-DD"),
        ({"period": "custom", "end": "2026-12-31"}, "needs a start date"),
        ({"period": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "before the start"),
        ({"period": "custom", "start": "1990-01-01", "end": "2026-01-01"}, "ten years"),
        ({"period": "fortnight"}, "Unknown period"),
    ],
)
def test_it_explains_bad_periods(params: dict[str, str], message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(params, TODAY)


def test_buckets_follow_the_length() -> None:
    assert parse_period({"period": "30d"}, TODAY).bucket == "day"
    assert parse_period({"period": "this_quarter"}, TODAY).bucket == "week"
    assert parse_period({"period": "this_year"}, TODAY).bucket == "month"


def test_a_calendar_quarter_or_year_is_compared_with_the_previous_one() -> None:
    from datetime import UTC, datetime

    from dashboards.periods import Period

    q2 = Period("custom", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    assert (q2.previous().start, q2.previous().end) == (datetime(2026, 1, 1, tzinfo=UTC), q2.start)
    q1 = Period("custom", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert q1.previous().start == datetime(2025, 10, 1, tzinfo=UTC)
    year = Period("custom", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert year.previous().start == datetime(2025, 1, 1, tzinfo=UTC)
    days = Period("custom", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 11, tzinfo=UTC))
    assert days.previous().start == datetime(2026, 3, 22, tzinfo=UTC)
