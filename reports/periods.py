"""Report periods: quarters, the period before, and the same period a year earlier.

Periods are half-open [start, end) in UTC, like the API's ``start``/``end``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

QUARTER_RE = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str

    @property
    def is_quarter(self) -> bool:
        return QUARTER_RE.match(self.label) is not None


def quarter(year: int, q: int) -> Period:
    """The quarter ``q`` (1-4) of ``year``."""
    if not 1 <= q <= 4:
        raise ValueError(f"quarter must be 1 to 4, got {q}")
    start = datetime(year, 3 * (q - 1) + 1, 1, tzinfo=UTC)
    end = (
        datetime(year + 1, 1, 1, tzinfo=UTC) if q == 4 else datetime(year, 3 * q + 1, 1, tzinfo=UTC)
    )
    return Period(start, end, f"{year}Q{q}")


def parse_quarter(text: str) -> Period:
    """``"2026Q3"`` (or ``2026-Q3``) to its period; ValueError otherwise."""
    m = QUARTER_RE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a quarter such as 2026Q3")
    return quarter(int(m.group(1)), int(m.group(2)))


def quarter_of(moment: datetime) -> Period:
    """The quarter containing ``moment``."""
    moment = moment.astimezone(UTC)
    return quarter(moment.year, (moment.month - 1) // 3 + 1)


def last_closed_quarter(now: datetime) -> Period:
    """The most recent quarter that ended at or before ``now``."""
    current = quarter_of(now)
    return previous(current)


def custom(start: datetime, end: datetime) -> Period:
    """Any period; labelled by its dates unless it is exactly a quarter."""
    if end <= start:
        raise ValueError("the end of a period must be after its start")
    q = quarter_of(start)
    if q.start == start and q.end == end:
        return q
    last_day = datetime.fromtimestamp(end.timestamp() - 1, UTC).date()
    return Period(start, end, f"{start.date().isoformat()} to {last_day.isoformat()}")


def previous(period: Period) -> Period:
    """The period just before: the previous quarter, or the same length before."""
    if period.is_quarter:
        year, q = period.start.year, (period.start.month - 1) // 3 + 1
        return quarter(year - 1, 4) if q == 1 else quarter(year, q - 1)
    length = period.end - period.start
    return custom(period.start - length, period.start)


def year_before(period: Period) -> Period:
    """The same period one year earlier (29 February becomes 28 February)."""
    if period.is_quarter:
        year, q = period.start.year, (period.start.month - 1) // 3 + 1
        return quarter(year - 1, q)

    def shift(d: datetime) -> datetime:
        try:
            return d.replace(year=d.year - 1)
        except ValueError:
            return d.replace(year=d.year - 1, day=28)

    return custom(shift(period.start), shift(period.end))
