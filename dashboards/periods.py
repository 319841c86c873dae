"""Reporting periods of the dashboards: presets, custom ranges and the previous period.

A period is a half-open UTC range ``[start, end)`` of whole days, so that it matches the
hourly aggregates exactly and a custom range "1 to 31 January" includes the 31st.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

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


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return PRESETS[self.key]

    @property
    def last_day(self) -> date:
        """The last day included (``end`` is exclusive)."""
        return (self.end - timedelta(days=1)).date()

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def description(self) -> str:
        """``1 Jan 2026 to 31 Mar 2026``: the days covered, both included."""
        return f"{_day(self.start.date())} to {_day(self.last_day)}"

    def previous(self) -> Period:
        """The period this one is compared with: the previous calendar quarter or year when
        this is exactly one (as the quarterly report does), else the period of equal
        length that ends where this one starts."""
        s = self.start
        if s.day == 1 and s.hour == 0 and s.minute == 0:
            if s.month == 1 and self.end == s.replace(year=s.year + 1):
                return Period(self.key, s.replace(year=s.year - 1), s)
            if s.month in (1, 4, 7, 10) and self.end == _midnight(_add_months(s.date(), 3)):
                return Period(self.key, _midnight(_add_months(s.date(), -3)), s)
        length = self.end - self.start
        return Period(self.key, self.start - length, self.start)

    @property
    def bucket(self) -> str:
        """Time-series bucket that gives a readable number of bars for this length."""
        if self.days <= 62:
            return "day"
        if self.days <= 190:
            return "week"
        return "month"

    def query(self, **extra: str) -> str:
        """The query string that selects this period again (for links)."""
        params: dict[str, str] = {"period": self.key}
        if self.key == "custom":
            params["start"] = self.start.date().isoformat()
            params["end"] = self.last_day.isoformat()
        params.update(extra)
        return urlencode(params)


def _day(d: date) -> str:
    return f"{d.day} {d.strftime('%b %Y')}"


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def preset(key: str, today: date) -> Period:
    """The preset period ``key`` as of ``today`` (UTC)."""
    if key == "this_quarter":
        start = _quarter_start(today)
        return Period(key, _midnight(start), _midnight(_add_months(start, 3)))
    if key == "last_quarter":
        end = _quarter_start(today)
        return Period(key, _midnight(_add_months(end, -3)), _midnight(end))
    if key == "30d":
        # The last 30 days including today.
        end = today + timedelta(days=1)
        return Period(key, _midnight(end - timedelta(days=30)), _midnight(end))
    if key == "this_year":
        return Period(key, _midnight(date(today.year, 1, 1)), _midnight(date(today.year + 1, 1, 1)))
    if key == "last_year":
        return Period(key, _midnight(date(today.year - 1, 1, 1)), _midnight(date(today.year, 1, 1)))
    raise PeriodError(f"Unknown period {key!r}; choose one of: {', '.join(PRESETS)}.")


def _parse_day(raw: str | None, name: str) -> date:
    if not raw:
        raise PeriodError(f"A custom range needs a {name} date (YYYY-MM-DD).")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise PeriodError(
            f"The {name} date {raw!r} is not a valid date; write it as YYYY-MM-DD, e.g. 2026-01-31."
        ) from None


def parse_period(params: Any, today: date | None = None) -> Period:
    """Read ``period`` (and ``start``/``end`` for ``custom``) from query parameters.

    Raises :class:`PeriodError` with a message a person can act on.
    """
    today = today or datetime.now(UTC).date()
    key = params.get("period") or DEFAULT_PRESET
    if key != "custom":
        return preset(key, today)
    first = _parse_day(params.get("start"), "start")
    last = _parse_day(params.get("end"), "end")
    if last < first:
        raise PeriodError(
            f"The end date {last.isoformat()} is before the start date {first.isoformat()}."
        )
    if (last - first).days > MAX_CUSTOM_DAYS:
        raise PeriodError("A custom range may cover at most ten years.")
    return Period("custom", _midnight(first), _midnight(last + timedelta(days=1)))
