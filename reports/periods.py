"""Report periods: quarters, custom ranges and their labels.

Periods are half-open [start, end) in UTC, like the API's ``start``/``end``. What a
period is compared with (the previous period, the same period a year earlier, like for
like when it has not ended) is the one rule of :mod:`api.periods`, shared with the
dashboards; :func:`previous` and :func:`year_before` give those whole periods with a
report label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from api import periods as rule

QUARTER_RE = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str

    @property
    def is_quarter(self) -> bool:
        return QUARTER_RE.match(self.label) is not None

    @property
    def span(self) -> rule.Span:
        return rule.Span(self.start, self.end)


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


def labelled(span: rule.Span) -> Period:
    """A range of :mod:`api.periods` as a report period with its label."""
    return custom(span.start, span.end)


def previous(period: Period) -> Period:
    """The whole period just before (:func:`api.periods.previous`): the previous quarter
    or calendar year, or the same length before."""
    return labelled(rule.previous(period.span))


def year_before(period: Period) -> Period:
    """The same period one year earlier (:func:`api.periods.year_before`)."""
    return labelled(rule.year_before(period.span))
