"""The reports' own period rule: the quarter the schedule reports on.

Owns: :func:`last_closed_quarter`. A report's period is the one
:class:`api.periods.Period` of the dashboards and the reports (``2026Q3`` or its days,
half-open ``[start, end)`` in UTC like the API's ``start``/``end``); what it is compared
with is ``Period.previous()`` / ``Period.year_before()`` (:func:`api.periods.compare`).

The other names here are re-exports of :mod:`api.periods`, kept while modules still
import them from here; new code imports them from :mod:`api.periods`.
"""

from __future__ import annotations

from datetime import datetime

from api import periods as rule
from api.periods import QUARTER_RE, Period, custom, parse_quarter, quarter, quarter_of

__all__ = [
    "QUARTER_RE",
    "Period",
    "custom",
    "labelled",
    "last_closed_quarter",
    "parse_quarter",
    "previous",
    "quarter",
    "quarter_of",
    "year_before",
]


def last_closed_quarter(now: datetime) -> Period:
    """The most recent quarter that ended at or before ``now``."""
    return quarter_of(now).previous()


# --- re-exports for older imports (use api.periods) ------------------------------------


def labelled(span: rule.Span) -> Period:
    """A range of :mod:`api.periods` as a period with its label (``Period(start, end)``)."""
    return custom(span.start, span.end)


def previous(period: Period) -> Period:
    """The whole period just before (:func:`api.periods.previous`), as
    ``period.as_of(None).previous()`` gives it."""
    return labelled(rule.previous(period.span))


def year_before(period: Period) -> Period:
    """The same period one year earlier, whole (:func:`api.periods.year_before`);
    ValueError when that is empty (a range within 28-29 February)."""
    return labelled(rule.year_before(period.span))
