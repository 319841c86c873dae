"""Read-side queries over the aggregates: totals, breakdowns and time series.

These read ``UsageHour`` (per project, hour, zone, provider, factor) and per-run totals,
never raw measurements, so their cost does not grow with the number of measurements.
Dashboards and reports use the same functions as the API, so their totals agree. A run
counts in the period in which it started (``Run.objects.started_between``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncMonth, TruncWeek

from api import precision, sums
from api.models import (
    USAGE_FIELDS,
    Experiment,
    Project,
    Run,
    RunQuerySet,
    UsageHour,
    UsageHourQuerySet,
    started_between,
    usage_sums,
)
from api.schema import COMPONENTS, Invalid

TRUNC = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek, "month": TruncMonth}
BUCKETS = tuple(TRUNC)


def _clean(sums: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in sums.items():
        if name == "measurement_count" or name.endswith("_count"):
            out[name] = int(value or 0)
        else:
            out[name] = float(value or 0.0)
    return out


def hours_for(
    projects: QuerySet[Project], start: datetime | None, end: datetime | None
) -> UsageHourQuerySet:
    """UsageHour rows of these projects in [start, end)."""
    return UsageHour.objects.filter(project__in=projects).between(start, end)


def usage_totals(
    projects: QuerySet[Project], start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Energy, emissions, measured share, GPU-hours and run count over a period.

    ``energy_kwh`` is IT energy; ``facility_energy_kwh`` includes PUE; ``emissions_kg`` is
    location-based. A run counts in the period when it started in it.
    """
    totals = _clean(hours_for(projects, start, end).totals())
    totals["run_count"] = Run.objects.visible_to(projects).started_between(start, end).count()
    totals["estimated_energy_kwh"] = max(
        totals["energy_kwh"] - totals["measured_energy_kwh"] - totals["imported_energy_kwh"], 0.0
    )
    energy = totals["energy_kwh"]
    totals["measured_share"] = totals["measured_energy_kwh"] / energy if energy else 0.0
    totals["intensity_g_per_kwh"] = (
        totals["emissions_kg"] * 1000.0 / totals["facility_energy_kwh"]
        if totals["facility_energy_kwh"]
        else None
    )
    return totals


def usage_breakdown(
    projects: QuerySet[Project], start: datetime | None, end: datetime | None, *dims: str
) -> list[dict[str, Any]]:
    """Sums grouped by the given dimensions (e.g. ``"zone"``, ``"cloud_provider"``,
    ``"project__name"``, ``"factor__dataset_version"``), largest emissions first."""
    rows = (
        hours_for(projects, start, end)
        .values(*dims)
        .annotate(**usage_sums())
        .order_by("-emissions_kg")
    )
    return [
        {**{d: row[d] for d in dims}, **_clean({f: row[f] for f in USAGE_FIELDS})} for row in rows
    ]


SERIES_FIELDS = (
    "energy_kwh",
    "emissions_kg",
    "gpu_hours",
    "measured_energy_kwh",
    "measurement_count",
)
# A series longer than this is refused (a year of hours is 8,784): an unbounded hourly
# range over years would otherwise build hundreds of thousands of zero rows.
MAX_SERIES_BUCKETS = 20_000
HOUR = timedelta(hours=1)
KWH_TO_J = 3_600_000.0


def bucket_start(moment: datetime, bucket: str) -> datetime:
    """The start (UTC) of the hour, day, week (Monday, as ISO 8601 and ``TruncWeek``) or
    month that contains ``moment``."""
    t = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if bucket == "hour":
        return t
    t = t.replace(hour=0)
    if bucket == "day":
        return t
    if bucket == "week":
        return t - timedelta(days=t.weekday())
    if bucket == "month":
        return t.replace(day=1)
    raise ValueError(f"unknown bucket {bucket!r}")


def next_bucket(t: datetime, bucket: str) -> datetime:
    """The start of the bucket after the one starting at ``t``."""
    if bucket == "hour":
        return t + HOUR
    if bucket == "day":
        return t + timedelta(days=1)
    if bucket == "week":
        return t + timedelta(days=7)
    if bucket == "month":
        return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
    raise ValueError(f"unknown bucket {bucket!r}")


def _ceil_hour(moment: datetime) -> datetime:
    floor = bucket_start(moment, "hour")
    return floor if floor == moment else floor + HOUR


def series_buckets(lo: datetime, hi: datetime, bucket: str) -> list[tuple[datetime, float]]:
    """Every bucket that overlaps ``[lo, hi)``: its start and the seconds of it inside the
    range (a bucket cut by either end of the range is shorter than a whole one)."""
    out: list[tuple[datetime, float]] = []
    t = bucket_start(lo, bucket)
    while t < hi:
        after = next_bucket(t, bucket)
        out.append((t, (min(after, hi) - max(t, lo)).total_seconds()))
        if len(out) > MAX_SERIES_BUCKETS:
            raise Invalid(
                f"that range holds more than {MAX_SERIES_BUCKETS:,} {bucket} buckets; "
                "ask for a shorter range or a longer bucket",
                {"bucket": f"too many {bucket} buckets for the range"},
            )
        t = after
    return out


def usage_series(
    projects: QuerySet[Project],
    start: datetime | None,
    end: datetime | None,
    bucket: str = "day",
    by: str | None = None,
    rounded: bool = False,
) -> list[dict[str, Any]]:
    """Time series of energy and emissions per bucket (hour, day, week, month), optionally
    split by a dimension such as ``"project__name"`` or ``"zone"``.

    Every bucket of the period is present, with zeros where nothing ran, so that a line
    drawn through the points never joins two busy buckets over a quiet one; with ``by``,
    every bucket is present for each group that has usage in the period. Without
    ``start`` or ``end`` the period starts or ends with the usage. Each point carries
    ``bucket_s``, the seconds of the bucket inside the period (the hours that the
    UsageHour rows of ``[start, end)`` cover: a bucket cut by the period is shorter), and
    ``power_w``, the average IT power over it, so that the sum of ``power_w`` x
    ``bucket_s`` is the energy. Buckets are UTC.

    With ``rounded``, every quantity is rounded to the API's precision as the point is
    built (``power_w`` from the unrounded energy) and the list is an
    ``api.precision.Rounded``, which the API's renderer does not walk again: a day series
    over years holds tens of thousands of values.
    """
    if bucket not in BUCKETS:
        raise Invalid(f"unknown bucket {bucket!r}", {"bucket": f"is not one of {BUCKETS}"})
    hours = hours_for(projects, start, end)
    # A UsageHour row covers its whole hour, and the rows of [start, end) are those whose
    # hour starts in it, so the time they cover is [ceil(start), ceil(end)) in hours.
    lo = _ceil_hour(start) if start is not None else None
    hi = _ceil_hour(end) if end is not None else None
    if lo is None or hi is None:
        span = hours.aggregate(first=Min("hour"), last=Max("hour"))
        if span["first"] is None:
            return []
        lo = lo or span["first"]
        hi = hi or span["last"] + HOUR
    if hi <= lo:
        return []
    buckets = series_buckets(lo, hi, bucket)
    dims = ["t"] + ([by] if by else [])
    rows = (
        hours.annotate(t=TRUNC[bucket]("hour", tzinfo=UTC))
        .values(*dims)
        .annotate(**{f: Sum(f) for f in SERIES_FIELDS})
        .order_by()
        .values_list(*dims, *SERIES_FIELDS)
    )
    kinds = [int if f.endswith("_count") else float for f in SERIES_FIELDS]
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    energy: dict[tuple[Any, ...], float] = {}
    groups: set[Any] = set()
    for t, *row in rows:
        group = row.pop(0) if by else None
        groups.add(group)
        sums = {f: kind(v or 0) for f, kind, v in zip(SERIES_FIELDS, kinds, row, strict=True)}
        energy[t, group] = sums["energy_kwh"]
        found[t, group] = precision.precise(sums) if rounded else sums
    if by is None:
        groups = {None}
    zero = _clean(dict.fromkeys(SERIES_FIELDS))

    def fix(value: float, key: str) -> float:
        return precision.precise(value, key) if rounded else value

    ordered = sorted(groups, key=lambda g: (g is None, str(g)))
    out: list[dict[str, Any]] = precision.Rounded() if rounded else []
    for t, seconds in buckets:
        bucket_s = fix(seconds, "bucket_s")
        for group in ordered:
            busy = found.get((t, group))
            item: dict[str, Any] = {"t": t, **(busy or zero), "bucket_s": bucket_s}
            # The power from the unrounded energy; a bucket where nothing ran draws none.
            item["power_w"] = fix(energy[t, group] * KWH_TO_J / seconds, "power_w") if busy else 0.0
            if by:
                item[by] = group
            out.append(item)
    return out


def run_totals(runs: RunQuerySet) -> dict[str, Any]:
    """Sums of per-run totals (energy, emissions, GPU-hours) and counts by status."""
    totals = _clean(runs.totals())
    by_status = dict(runs.order_by().values_list("status").annotate(n=Count("id")))
    totals["runs_by_status"] = {k: int(v) for k, v in by_status.items()}
    return totals


def run_series(run: Run, max_points: int = 600, since: datetime | None = None) -> dict[str, Any]:
    """Power per component over time, and cumulative energy and emissions, for one run.

    The run's span, from its first measurement's start to its last one's end, is cut into
    at most ``max_points`` equal buckets of at least a second (``bucket_s``) that tile it
    exactly. Each interval's energy (per component, per rank) and emissions are spread
    over the buckets it overlaps in proportion to the overlap, as if drawn at constant
    power over the interval; power in a bucket is its energy divided by the bucket's
    length, so ranks add up and the area under the power (drawn as steps) is the run's
    energy. Every bucket is present, zero where nothing ran. ``t`` and ``t_end`` are the
    bucket's start and end (Unix seconds); ``energy_kwh_cum`` and ``emissions_kg_cum`` are
    the totals at ``t_end``. Per-rank power is returned too when the run has several
    ranks. With ``since``, only buckets that end after it are returned (the cumulative
    figures still count everything before).
    """
    if run.first_start is None or run.last_end is None:
        return {"bucket_s": 0, "points": [], "ranks": {}}
    origin = run.first_start
    span = (run.last_end - origin).total_seconds()
    count = max(1, min(max_points, math.floor(span)))
    # A run whose intervals all last zero seconds (and so hold no energy) gets one bucket.
    bucket_s = span / count if span > 0 else 1.0
    per_bucket = [[0.0] * count for _ in range(4)]
    rank_energy: dict[tuple[str, int], list[float]] = {}
    for (node, rank), sums_ in _spread(run, origin, bucket_s, count).items():
        rank_energy[(node, rank)] = [sum(q[i] for q in sums_[:3]) for i in range(count)]
        for total, part in zip(per_bucket, sums_, strict=True):
            for i, value in enumerate(part):
                total[i] += value
    to_w = KWH_TO_J / bucket_s
    t0 = origin.timestamp()
    after = since.timestamp() if since is not None else None
    points = []
    cum_kwh = 0.0
    cum_kg = 0.0
    for i in range(count):
        cpu, gpu, ram, kg = (values[i] for values in per_bucket)
        cum_kwh += cpu + gpu + ram
        cum_kg += kg
        t_end = t0 + (i + 1) * bucket_s
        if after is not None and t_end <= after:
            continue
        points.append(
            {
                "t": t0 + i * bucket_s,
                "t_end": t_end,
                "cpu_power_w": cpu * to_w,
                "gpu_power_w": gpu * to_w,
                "ram_power_w": ram * to_w,
                "power_w": (cpu + gpu + ram) * to_w,
                "energy_kwh_cum": cum_kwh,
                "emissions_kg_cum": cum_kg,
            }
        )
    rank_series: dict[str, list[dict[str, float]]] = {}
    if len(rank_energy) > 1:
        for (node, rank), energy in rank_energy.items():
            rank_series[f"{node or 'node'}/rank {rank}"] = [
                {"t": t0 + i * bucket_s, "t_end": t0 + (i + 1) * bucket_s, "power_w": e * to_w}
                for i, e in enumerate(energy)
                if after is None or t0 + (i + 1) * bucket_s > after
            ]
    return {"bucket_s": bucket_s, "points": points, "ranks": rank_series}


def _spread(
    run: Run, origin: datetime, width: float, count: int
) -> dict[tuple[str, int], list[list[float]]]:
    """Per (node, rank): CPU, GPU and RAM energy and emissions in each of ``count``
    buckets of ``width`` seconds from ``origin`` (``api.sums.bucket_pieces``, in SQL)."""
    out: dict[tuple[str, int], list[list[float]]] = {}
    steps: dict[tuple[str, int], list[list[float]]] = {}
    params = {
        "run": run.pk,
        "origin": connection.ops.adapt_datetimefield_value(origin),
        "since": connection.ops.adapt_datetimefield_value(origin),
        "width": float(width),
        "last": count - 1,
    }
    with connection.cursor() as cursor:
        cursor.execute(sums.bucket_pieces(sums.dialect(connection.vendor)), params)
        rows = cursor.fetchall()
    for node, rank, kind, bucket, *values in rows:
        key = (node, int(rank))
        if key not in out:
            out[key] = [[0.0] * count for _ in range(4)]
            steps[key] = [[0.0] * (count + 1) for _ in range(4)]
        target = out[key] if kind == "d" else steps[key]
        for q, value in enumerate(values):
            target[q][int(bucket)] += float(value or 0.0)
    for key, direct in out.items():
        for q in range(4):
            running = 0.0
            for i in range(count):
                running += steps[key][q][i]
                direct[q][i] += running
    return out


# --- appended for the dashboards (see dashboards/views.py) ------------------------------


def run_methods(run: Run) -> list[dict[str, Any]]:
    """How each component's energy of one run was obtained: per component and method,
    the energy in kWh and the number of intervals, largest first. One pass over that run's
    measurements (through the unique ``(run_id, start, uuid)`` index)."""
    rows = (
        run.measurements.order_by()
        .values("cpu_method", "gpu_method", "ram_method")
        .annotate(
            cpu=Sum("cpu_energy_kwh"),
            gpu=Sum("gpu_energy_kwh"),
            ram=Sum("ram_energy_kwh"),
            intervals=Count("id"),
        )
    )
    found: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        for comp in COMPONENTS:
            acc = found.setdefault((comp, row[f"{comp}_method"]), [0.0, 0])
            acc[0] += float(row[comp] or 0.0)
            acc[1] += int(row["intervals"])
    out: list[dict[str, Any]] = []
    for comp in COMPONENTS:
        mine = sorted(
            ((method, kwh, n) for (c, method), (kwh, n) in found.items() if c == comp),
            key=lambda x: -x[1],
        )
        for method, kwh, n in mine:
            if method == "none" and not kwh:
                continue
            out.append(
                {"component": comp, "method": method, "energy_kwh": kwh, "intervals": int(n)}
            )
    return out


def experiments_with_totals(
    project: Project, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Any]:
    """A project's experiments with run count, energy, emissions and GPU-hours of their
    runs that started in [start, end), and the start of their latest run; largest
    emissions first. Reads per-run totals."""
    window = started_between(start, end, "runs")
    return (
        Experiment.objects.filter(project=project)
        .annotate(
            run_count=Count("runs", filter=window),
            energy_kwh=Coalesce(Sum("runs__energy_kwh", filter=window), 0.0),
            emissions_kg=Coalesce(Sum("runs__emissions_kg", filter=window), 0.0),
            gpu_hours=Coalesce(Sum("runs__gpu_hours", filter=window), 0.0),
            last_run=Max("runs__started_at"),
        )
        .order_by("-emissions_kg", "name")
    )
