"""The dashboards' choice of period: the presets, a custom range, and reading them from
the query string.

Owns: :data:`PRESETS`, :func:`preset`, :func:`parse_period` and :class:`PeriodError`.
They build the one :class:`api.periods.Period` shared with the reports, which holds what
a period is compared with, how much of one that has not ended is shown, its bucket and
the query string that selects it again. A dashboard period is whole UTC days, so that it
matches the hourly aggregates exactly and a custom range "1 to 31 January" includes the
31st.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone

from api import periods as rule
from api.periods import Period

PRESETS: dict[str, str] = {
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "30d": "Last 30 days",
    "this_year": "This year",
    "last_year": "Last year",
    "custom": "Custom range",
}
DEFAULT_PRESET = "this_quarter"
# A custom range longer than this is almost certainly a typo in the year.
MAX_CUSTOM_DAYS = 366 * 10


class PeriodError(ValueError):
    """A period the user asked for that cannot be used; the message says why."""


def _named(key: str, span: rule.Span, now: datetime | None) -> Period:
    return Period(span.start, span.end, label=PRESETS[key], key=key, now=now)


def _year(year: int) -> rule.Span:
    return rule.Span(rule.midnight(date(year, 1, 1)), rule.midnight(date(year + 1, 1, 1)))


def preset(key: str, now: datetime) -> Period:
    """The preset period ``key`` as of ``now`` (UTC)."""
    today = now.astimezone(UTC).date()
    this_quarter = rule.quarter_of(now).span
    if key == "this_quarter":
        return _named(key, this_quarter, now)
    if key == "last_quarter":
        return _named(key, rule.previous(this_quarter), now)
    if key == "30d":
        # The last 30 days including today.
        end = rule.midnight(today + timedelta(days=1))
        return _named(key, rule.Span(end - timedelta(days=30), end), now)
    if key == "this_year":
        return _named(key, _year(today.year), now)
    if key == "last_year":
        return _named(key, _year(today.year - 1), now)
    raise PeriodError(f"Unknown period {key!r}; choose one of: {', '.join(PRESETS)}.")


def _parse_day(raw: str | None, name: str) -> date:
    if not raw:
        raise PeriodError(f"A custom range needs a {name} date (YYYY-MM-DD).")
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise PeriodError(
            f"The {name} date {raw!r} is not a valid date; write it as YYYY-MM-DD, e.g. 2026-01-31."
        ) from None
    if problem := rule.range_problem(day):
        raise PeriodError(f"The {name} date {day.isoformat()} {problem}.")
    return day


def parse_period(params: Any, now: datetime | None = None) -> Period:
    """Read ``period`` (and ``start``/``end`` for ``custom``) from query parameters, as
    of ``now`` (default: ``django.utils.timezone.now()``).

    Raises :class:`PeriodError` with a message a person can act on.
    """
    now = now or timezone.now()
    key = params.get("period") or DEFAULT_PRESET
    if key != "custom":
        return preset(key, now)
    first = _parse_day(params.get("start"), "start")
    last = _parse_day(params.get("end"), "end")
    if last < first:
        raise PeriodError(
            f"The end date {last.isoformat()} is before the start date {first.isoformat()}."
        )
    if (last - first).days > MAX_CUSTOM_DAYS:
        raise PeriodError("A custom range may cover at most ten years.")
    span = rule.Span(rule.midnight(first), rule.midnight(last + timedelta(days=1)))
    return _named("custom", span, now)
