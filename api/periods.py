"""Periods and what each is compared with: the one :class:`Period` of the dashboards and
the reports, and the rules it follows.

Owns: :class:`Period` (a range with its label, looked at at a moment), its label rule
(``2026Q3`` for a calendar quarter, else its days: ``2026-01-10 to 2026-01-19``), the
quarters (:func:`quarter`, :func:`quarter_of`, :func:`parse_quarter`), the calendar
arithmetic, and rules 1 and 2 below (:func:`previous`, :func:`year_before`,
:func:`to_date`, :func:`compare`). The dashboards add their presets and query string
(``dashboards/periods.py``), the reports their schedule's quarter
(``reports/periods.py``); which runs fall in a period is ``Run.objects.started_between``
(a run counts in the period in which it started).

A period is a half-open UTC range ``[start, end)``. Every figure is read from the hourly
aggregates (``UsageHour``, per UTC hour, an interval spanning several hours split across
them in proportion to time), so a range whose ends are whole hours is summed exactly.

The rules (``docs/dashboards.md`` and ``docs/reports.md`` quote them):

1. **A finished period** (its end is at or before the start of the current hour) is
   compared with the previous calendar quarter or year when it is exactly one calendar
   quarter or year, otherwise with the period of equal length that ends where it starts;
   a report also compares it with the same dates one year earlier (29 February becomes
   28 February).
2. **A period that has not ended** is shown *to date*: from its start up to the start of
   the current UTC hour, i.e. through the last complete hour (the hour still running is
   left out because its aggregate is still growing). It is compared *like for like*:
   with the same elapsed length, counted from the start of the period rule 1 gives,
   never beyond that period's end (after a shorter period, all of it).

Example, on 1 Dec 2026 at 11:47 UTC: this quarter covers 1 Oct 2026 00:00 to 1 Dec 2026
11:00 (61 days 11 hours) and is compared with 1 Jul 2026 00:00 to 31 Aug 2026 11:00, the
first 61 days 11 hours of the previous quarter; a year before: 1 Oct 2025 00:00 to
1 Dec 2025 11:00.

This module depends on nothing else of the project, so that ``dashboards`` and
``reports`` can both import it (dashboards, reports -> api -> carbon).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Literal
from urllib.parse import urlencode

HOUR = timedelta(hours=1)
Kind = Literal["previous", "year_before"]
Unit = Literal["quarter", "year"]
QUARTER_RE = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


def day_text(d: date) -> str:
    """``1 Oct 2026``."""
    return f"{d.day} {d.strftime('%b %Y')}"


def moment_text(moment: datetime) -> str:
    """``1 Dec 2026 11:00`` (UTC)."""
    moment = moment.astimezone(UTC)
    return f"{day_text(moment.date())} {moment:%H:%M}"


def duration_text(length: timedelta) -> str:
    """``61 days 11 hours``; whole hours, since every range here starts and ends on one."""
    hours = int(length.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours or not days:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    return " ".join(parts)


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour containing ``moment``: the end of the last complete hour."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _is_midnight(moment: datetime) -> bool:
    m = moment.astimezone(UTC)
    return (m.hour, m.minute, m.second, m.microsecond) == (0, 0, 0, 0)


def midnight(d: date) -> datetime:
    """The start (UTC) of day ``d``."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _quarter_start(d: date) -> date:
    """The first day of the calendar quarter containing ``d``."""
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def add_months(d: date, months: int) -> date:
    """The first day of the month ``months`` after ``d``'s month."""
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _year_earlier(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


@dataclass(frozen=True)
class Span:
    """A half-open UTC range ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def whole_days(self) -> bool:
        return _is_midnight(self.start) and _is_midnight(self.end)

    @property
    def last_day(self) -> date:
        """The last day included when the range is whole days (``end`` is exclusive)."""
        return (self.end.astimezone(UTC) - timedelta(days=1)).date()

    def describe(self) -> str:
        """The range in words: ``1 Jul 2026 to 30 Sep 2026`` for whole UTC days (both
        included), else ``1 Oct 2026 00:00 to 1 Dec 2026 11:00 UTC`` (from one moment up
        to the other)."""
        if self.end <= self.start:
            return f"nothing yet (an empty range at {moment_text(self.start)} UTC)"
        if self.whole_days:
            return f"{day_text(self.start.astimezone(UTC).date())} to {day_text(self.last_day)}"
        return f"{moment_text(self.start)} to {moment_text(self.end)} UTC"


def calendar_unit(span: Span) -> Unit | None:
    """``"quarter"`` or ``"year"`` when the span is exactly one calendar quarter or year."""
    s = span.start.astimezone(UTC)
    if s.day != 1 or not _is_midnight(s):
        return None
    if s.month == 1 and span.end == s.replace(year=s.year + 1):
        return "year"
    if s.month in (1, 4, 7, 10) and span.end == midnight(add_months(s.date(), 3)):
        return "quarter"
    return None


def previous(span: Span) -> Span:
    """The whole period a period is compared with (rule 1): the previous calendar quarter
    or year when it is exactly one, else the equal length that ends where it starts."""
    s = span.start.astimezone(UTC)
    unit = calendar_unit(span)
    if unit == "year":
        return Span(s.replace(year=s.year - 1), s)
    if unit == "quarter":
        return Span(midnight(add_months(s.date(), -3)), s)
    return Span(s - span.length, s)


def year_before(span: Span) -> Span:
    """The same dates one year earlier (29 February becomes 28 February); a calendar
    quarter gives the same quarter of the year before."""
    return Span(_year_earlier(span.start.astimezone(UTC)), _year_earlier(span.end.astimezone(UTC)))


def to_date(span: Span, now: datetime | None) -> Span:
    """The part of ``span`` with complete data as of ``now``: from its start up to the
    start of the current UTC hour (all of it once it has ended; nothing before it starts).
    ``now=None`` means the whole span."""
    if now is None:
        return span
    cut = floor_hour(now)
    return Span(span.start, min(span.end, max(span.start, cut)))


@dataclass(frozen=True)
class Comparison:
    """A period against another one: the two ranges compared and why that one."""

    kind: Kind
    whole: Span  # the period as asked
    current: Span  # the part of it with data: all of it, or to date
    other_whole: Span  # the whole period rule 1 gives
    other: Span  # the range compared with: all of other_whole, or its same elapsed part

    @property
    def to_date(self) -> bool:
        """The period had not ended: its figures and the other's are to date."""
        return self.current.end < self.whole.end

    @property
    def whole_basis(self) -> str:
        unit = calendar_unit(self.whole)
        if self.kind == "previous":
            if unit is not None:
                return f"the previous {unit}"
            return f"the {duration_text(self.whole.length)} before"
        if unit == "quarter":
            return "the same quarter a year before"
        if unit == "year":
            return "the year before"
        return "the same dates a year before"

    @property
    def basis(self) -> str:
        """Why the other range: ``the previous quarter``, ``the first 61 days 11 hours of
        the previous quarter``."""
        if not self.to_date:
            return self.whole_basis
        if self.current.length <= timedelta(0):
            return f"nothing yet of {self.whole_basis}: no complete hour of the period has passed"
        if self.other.length < self.current.length:
            return (
                f"all of {self.whole_basis}, which is shorter than the "
                f"{duration_text(self.current.length)} elapsed"
            )
        return f"the first {duration_text(self.current.length)} of {self.whole_basis}"

    @property
    def current_text(self) -> str:
        """``1 Oct 2026 00:00 to 1 Dec 2026 11:00 UTC (to date)``."""
        return self.current.describe() + (" (to date)" if self.to_date else "")

    @property
    def other_text(self) -> str:
        """``1 Jul 2026 00:00 to 31 Aug 2026 11:00 UTC (the first ... of the previous quarter)``."""
        return f"{self.other.describe()} ({self.basis})"

    @property
    def text(self) -> str:
        """Both ranges in one sentence, as every page and report format prints it."""
        return f"{self.current_text} compared with {self.other_text}"


def compare(whole: Span, now: datetime | None, kind: Kind = "previous") -> Comparison:
    """What ``whole`` is compared with as of ``now`` (rules 1 and 2 of this module).

    ``now=None`` treats the period as finished (its whole range against the whole other).
    """
    other_whole = previous(whole) if kind == "previous" else year_before(whole)
    current = to_date(whole, now)
    if current.end < whole.end:
        end = min(other_whole.end, other_whole.start + current.length)
        other = Span(other_whole.start, end)
    else:
        other = other_whole
    return Comparison(kind, whole, current, other_whole, other)


# --- the period of the pages and the reports ----------------------------------------------


def label_of(span: Span) -> str:
    """A report's name for a range: ``2026Q3`` when it is exactly a calendar quarter, else
    its first and last day, ``2026-01-10 to 2026-01-19`` (the end is excluded)."""
    if calendar_unit(span) == "quarter":
        s = span.start.astimezone(UTC)
        return f"{s.year}Q{(s.month - 1) // 3 + 1}"
    last_day = datetime.fromtimestamp(span.end.timestamp() - 1, UTC).date()
    return f"{span.start.date().isoformat()} to {last_day.isoformat()}"


@dataclass(frozen=True)
class Period:
    """A period as asked (``[start, end)``, UTC), its name, and the moment it is looked at.

    ``label`` names it: a dashboard preset's (``This quarter``), or by default the report
    name of its range (:func:`label_of`: ``2026Q3``). ``key`` is the dashboards' preset
    that chose it (``custom`` for any other range). ``now`` decides how much of a period
    that has not ended has data ("to date", rule 2) and so what it is compared with;
    ``None`` treats the period as finished (rule 1 alone).
    """

    start: datetime
    end: datetime
    label: str = ""
    key: str = "custom"
    now: datetime | None = None

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", label_of(self.span))

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The last day included (``end`` is exclusive)."""
        return self.span.last_day

    @property
    def description(self) -> str:
        """``1 Jan 2026 to 31 Mar 2026``: the days asked for, both included."""
        return self.span.describe()

    @property
    def is_quarter(self) -> bool:
        return calendar_unit(self.span) == "quarter"

    def as_of(self, now: datetime | None) -> Period:
        """The same period looked at at ``now`` (``None``: as finished)."""
        return replace(self, now=now)

    def compare(self, kind: Kind = "previous") -> Comparison:
        """This period's range with data against the range it is compared with, as of
        ``now`` (:func:`compare`)."""
        return compare(self.span, self.now, kind)

    @cached_property
    def comparison(self) -> Comparison:
        """Against the previous period (the comparison pages show)."""
        return self.compare("previous")

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

    def _other(self, kind: Kind) -> Period:
        cmp = self.comparison if kind == "previous" else self.compare(kind)
        # Named after the whole other period (2026Q3) even when only its first part is
        # compared; looked at as finished, since it is a range of the past.
        return Period(cmp.other.start, cmp.other.end, label_of(cmp.other_whole))

    def previous(self) -> Period:
        """The range this one is compared with (rules 1 and 2): the previous calendar
        quarter or year, or the equal length before; for a period that has not ended as of
        ``now``, the same elapsed part of it."""
        return self._other("previous")

    def year_before(self) -> Period:
        """The same dates one year earlier, like for like when this one has not ended."""
        return self._other("year_before")

    @property
    def bucket(self) -> str:
        """Time-series bucket that gives a readable number of bars for this length."""
        if self.days <= 62:
            return "day"
        if self.days <= 190:
            return "week"
        return "month"

    def query(self, **extra: str) -> str:
        """The dashboards' query string that selects this period again (for links)."""
        params: dict[str, str] = {"period": self.key}
        if self.key == "custom":
            params["start"] = self.start.date().isoformat()
            params["end"] = self.last_day.isoformat()
        params.update(extra)
        return urlencode(params)


def quarter(year: int, q: int) -> Period:
    """The quarter ``q`` (1-4) of ``year``: ``2026Q3``."""
    if not 1 <= q <= 4:
        raise ValueError(f"quarter must be 1 to 4, got {q}")
    start = date(year, 3 * (q - 1) + 1, 1)
    return Period(midnight(start), midnight(add_months(start, 3)))


def quarter_of(moment: datetime) -> Period:
    """The quarter containing ``moment``."""
    start = _quarter_start(moment.astimezone(UTC).date())
    return Period(midnight(start), midnight(add_months(start, 3)))


def parse_quarter(text: str) -> Period:
    """``"2026Q3"`` (or ``2026-Q3``, any case) to its period; ValueError otherwise."""
    m = QUARTER_RE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a quarter such as 2026Q3")
    if problem := range_problem(date(int(m.group(1)), 1, 1)):
        raise ValueError(f"{text.strip()} {problem}")
    return quarter(int(m.group(1)), int(m.group(2)))


# The moments a read may name (a period, a custom range, an API start or end): wide enough
# for any question about the hub's data (stored from 2000 on), narrow enough that the
# arithmetic of periods (the day after, the year before) stays inside Python's dates.
READ_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
READ_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def range_problem(moment: datetime | date) -> str | None:
    """Why a moment cannot bound a read, or None when it can."""
    if not isinstance(moment, datetime):
        moment = midnight(moment)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not READ_EARLIEST <= moment <= READ_LATEST:
        return (
            f"is outside the range the hub reads ({READ_EARLIEST.year} to "
            f"{READ_LATEST.year}; its data begin in 2000)"
        )
    return None


def custom(start: datetime, end: datetime) -> Period:
    """Any range as a period, labelled by :func:`label_of`; ValueError when it is empty or
    outside :func:`range_problem`'s bounds."""
    if end <= start:
        raise ValueError("the end of a period must be after its start")
    for name, moment in (("start", start), ("end", end)):
        if problem := range_problem(moment):
            raise ValueError(f"the {name} {problem}")
    return Period(start, end)
