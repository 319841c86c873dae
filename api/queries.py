"""Read-side queries over the aggregates: totals, breakdowns and time series.

These read ``UsageHour`` (per project, hour, zone, provider, factor) and per-run totals,
never raw measurements, so their cost does not grow with the number of measurements.
Dashboards and reports use the same functions as the API, so their totals agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncMonth, TruncWeek

from api.models import (
    USAGE_FIELDS,
    Experiment,
    Project,
    Run,
    RunQuerySet,
    UsageHour,
    UsageHourQuerySet,
    usage_sums,
)

TRUNC = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek, "month": TruncMonth}


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
    runs = Run.objects.filter(project__in=projects)
    if start is not None:
        runs = runs.filter(started_at__gte=start)
    if end is not None:
        runs = runs.filter(started_at__lt=end)
    totals["run_count"] = runs.count()
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


def usage_series(
    projects: QuerySet[Project],
    start: datetime | None,
    end: datetime | None,
    bucket: str = "day",
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Time series of energy and emissions per bucket (hour, day, week, month), optionally
    split by a dimension such as ``"project__name"`` or ``"zone"``."""
    trunc = TRUNC[bucket]
    dims = ["t"] + ([by] if by else [])
    rows = (
        hours_for(projects, start, end)
        .annotate(t=trunc("hour"))
        .values(*dims)
        .annotate(
            energy_kwh=Sum("energy_kwh"),
            emissions_kg=Sum("emissions_kg"),
            gpu_hours=Sum("gpu_hours"),
            measured_energy_kwh=Sum("measured_energy_kwh"),
            measurement_count=Sum("measurement_count"),
        )
        .order_by(*dims)
    )
    out = []
    for row in rows:
        item = {
            "t": row["t"],
            **_clean(
                {
                    k: row[k]
                    for k in (
                        "energy_kwh",
                        "emissions_kg",
                        "gpu_hours",
                        "measured_energy_kwh",
                        "measurement_count",
                    )
                }
            ),
        }
        if by:
            item[by] = row[by]
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

    Intervals are grouped into at most ``max_points`` equal time buckets; power in a
    bucket is the energy of every rank in it divided by the bucket's length, so ranks add
    up. Per-rank power is returned too when the run has several ranks.
    """
    if run.first_start is None or run.last_end is None:
        return {"bucket_s": 0, "points": [], "ranks": {}}
    span = max((run.last_end - run.first_start).total_seconds(), 1.0)
    bucket_s = max(span / max_points, 1.0)
    origin = run.first_start
    buckets: dict[int, dict[str, float]] = {}
    ranks: dict[str, dict[int, float]] = {}
    qs = run.measurements.order_by("start").values_list(
        "start",
        "cpu_energy_kwh",
        "gpu_energy_kwh",
        "ram_energy_kwh",
        "emissions_kg",
        "node",
        "rank",
    )
    if since is not None:
        qs = qs.filter(start__gte=since)
    for start, cpu, gpu, ram, kg, node, rank in qs.iterator(chunk_size=2000):
        index = int((start - origin).total_seconds() // bucket_s)
        b = buckets.setdefault(index, {"cpu": 0.0, "gpu": 0.0, "ram": 0.0, "kg": 0.0})
        b["cpu"] += cpu
        b["gpu"] += gpu
        b["ram"] += ram
        b["kg"] += kg
        label = f"{node or 'node'}/rank {rank}"
        ranks.setdefault(label, {})
        ranks[label][index] = ranks[label].get(index, 0.0) + cpu + gpu + ram
    to_w = 3_600_000.0 / bucket_s
    points = []
    cum_kwh = 0.0
    cum_kg = 0.0
    for index in sorted(buckets):
        b = buckets[index]
        cum_kwh += b["cpu"] + b["gpu"] + b["ram"]
        cum_kg += b["kg"]
        points.append(
            {
                "t": origin.timestamp() + index * bucket_s,
                "cpu_power_w": b["cpu"] * to_w,
                "gpu_power_w": b["gpu"] * to_w,
                "ram_power_w": b["ram"] * to_w,
                "energy_kwh_cum": cum_kwh,
                "emissions_kg_cum": cum_kg,
            }
        )
    rank_series = {
        label: [
            {"t": origin.timestamp() + i * bucket_s, "power_w": e * to_w}
            for i, e in sorted(values.items())
        ]
        for label, values in ranks.items()
    }
    return {
        "bucket_s": bucket_s,
        "points": points,
        "ranks": rank_series if len(rank_series) > 1 else {},
    }


# --- appended for the dashboards (see dashboards/views.py) ------------------------------


def run_methods(run: Run) -> list[dict[str, Any]]:
    """How each component's energy of one run was obtained: per component and method,
    the energy in kWh and the number of intervals. Reads only that run's measurements
    (through the ``api_measurement_run_start`` index)."""
    out: list[dict[str, Any]] = []
    for comp in ("cpu", "gpu", "ram"):
        rows = (
            run.measurements.order_by()
            .values(method=F(f"{comp}_method"))
            .annotate(kwh=Sum(f"{comp}_energy_kwh"), intervals=Count("id"))
            .order_by("-kwh")
        )
        for row in rows:
            if row["method"] == "none" and not row["kwh"]:
                continue
            out.append(
                {
                    "component": comp,
                    "method": row["method"],
                    "energy_kwh": float(row["kwh"] or 0.0),
                    "intervals": int(row["intervals"]),
                }
            )
    return out


def experiments_with_totals(
    project: Project, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Any]:
    """A project's experiments with run count, energy, emissions and GPU-hours of their
    runs that started in [start, end), and the start of their latest run; largest
    emissions first. Reads per-run totals."""
    window = Q()
    if start is not None:
        window &= Q(runs__started_at__gte=start)
    if end is not None:
        window &= Q(runs__started_at__lt=end)
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
