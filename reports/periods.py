"""The reports' own period rule: the quarter the schedule reports on.

Owns: :func:`last_closed_quarter`. A report's period is the one
:class:`api.periods.Period` of the dashboards and the reports (``2026Q3`` or its days,
half-open ``[start, end)`` in UTC like the API's ``start``/``end``); what it is compared
with is ``Period.previous()`` / ``Period.year_before()`` (:func:`api.periods.compare`).
"""

from __future__ import annotations

from datetime import datetime

from api.periods import Period, quarter_of


def last_closed_quarter(now: datetime) -> Period:
    """The most recent quarter that ended at or before ``now``."""
    return quarter_of(now).previous()
