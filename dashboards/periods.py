"""Reporting periods of the dashboards: presets, custom ranges and what each is compared with.

A period is a half-open UTC range ``[start, end)`` of whole days, so that it matches the
hourly aggregates exactly and a custom range "1 to 31 January" includes the 31st. What a
period is compared with, and how much of a period that has not ended is shown, follow
the one rule of :mod:`api.periods`, shared with the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from api import periods as rule

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
    """A period as asked (``start``/``end``) and the moment it is looked at (``now``).

    ``now`` decides how much of a period that has not ended has data ("to date") and
    what it is compared with; ``None`` treats the period as finished.
    """

    key: str
    start: datetime
    end: datetime
    now: datetime | None = None

    @property
    def label(self) -> str:
        return PRESETS[self.key]

    @property
    def span(self) -> rule.Span:
        return rule.Span(self.start, self.end)

    @property
    def last_day(self) -> date:
        """The last day included (``end`` is exclusive)."""
        return (self.end - timedelta(days=1)).date()

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def description(self) -> str:
        """``1 Jan 2026 to 31 Mar 2026``: the days asked for, both included."""
        return self.span.describe()

    @cached_property
    def comparison(self) -> rule.Comparison:
        """This period's range with data against the range it is compared with."""
        return rule.compare(self.span, self.now, "previous")

    @property
    def to_date(self) -> bool:
        """The period has not ended: figures cover it up to the last complete hour."""
        return self.comparison.to_date

    @property
    def data_start(self) -> datetime:
        return self.comparison.current.start

    @property
    def data_end(self) -> datetime:
        """Where this period's figures stop: its end, or the start of the current hour."""
        return self.comparison.current.end

    def previous(self) -> Period:
        """The range this one is compared with (see :func:`api.periods.compare`): the
        previous calendar quarter or year, or the equal length before; for a period that
        has not ended, the same elapsed part of it."""
        other = self.comparison.other
        return Period(self.key, other.start, other.end)

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


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def preset(key: str, now: datetime) -> Period:
    """The preset period ``key`` as of ``now`` (UTC)."""
    today = now.astimezone(UTC).date()
    if key == "this_quarter":
        start = _quarter_start(today)
        return Period(key, _midnight(start), _midnight(_add_months(start, 3)), now)
    if key == "last_quarter":
        end = _quarter_start(today)
        return Period(key, _midnight(_add_months(end, -3)), _midnight(end), now)
    if key == "30d":
        # The last 30 days including today.
        end = today + timedelta(days=1)
        return Period(key, _midnight(end - timedelta(days=30)), _midnight(end), now)
    if key == "this_year":
        return Period(
            key, _midnight(date(today.year, 1, 1)), _midnight(date(today.year + 1, 1, 1)), now
        )
    if key == "last_year":
        return Period(
            key, _midnight(date(today.year - 1, 1, 1)), _midnight(date(today.year, 1, 1)), now
        )
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
    return Period("custom", _midnight(first), _midnight(last + timedelta(days=1)), now)
