"""Rebuilding aggregates from raw measurements, and re-applying a factor dataset.

Ingestion keeps ``UsageHour`` and run totals current incrementally; these functions
recompute them from scratch for a project, which is what re-applying a newer
emission-factor dataset to a period needs (and a way to repair after manual edits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, F, FloatField, Max, Min, Q, Sum, Value, When
from django.db.models.functions import TruncHour

import carbon
from api.accounting import factor_record
from api.models import (
    MEASURED_METHODS,
    RUN_TOTALS,
    USAGE_FIELDS,
    Measurement,
    Project,
    Run,
    UsageHour,
)

ENERGY = F("cpu_energy_kwh") + F("gpu_energy_kwh") + F("ram_energy_kwh")


def _component_sum(methods: frozenset[str] | set[str]) -> Any:
    parts = [
        Case(
            When(**{f"{c}_method__in": list(methods)}, then=F(f"{c}_energy_kwh")),
            default=Value(0.0),
            output_field=FloatField(),
        )
        for c in ("cpu", "gpu", "ram")
    ]
    return Sum(parts[0] + parts[1] + parts[2])


# Annotation names carry a "t_" prefix so that they never shadow the model's own field
# names (an aggregate named like a field would be referenced by later F() expressions).
SUMS: dict[str, Any] = {
    "t_energy_kwh": Sum(ENERGY),
    "t_cpu_energy_kwh": Sum("cpu_energy_kwh"),
    "t_gpu_energy_kwh": Sum("gpu_energy_kwh"),
    "t_ram_energy_kwh": Sum("ram_energy_kwh"),
    "t_measured_energy_kwh": _component_sum(MEASURED_METHODS),
    "t_emissions_kg": Sum("emissions_kg"),
    "t_duration_s": Sum("duration_s"),
    "t_gpu_hours": Sum(F("gpu_count") * F("duration_s") / 3600.0, output_field=FloatField()),
}


def rebuild_project(project_pk: int) -> int:
    """Recompute a project's UsageHour rows and run totals; return the number of hours."""
    with transaction.atomic():
        # Lock the project's runs (in pk order, as ingestion locks one run at a time) so no
        # batch commits between the recount and the write and is lost from the totals.
        list(
            Run.objects.select_for_update()
            .filter(project_id=project_pk)
            .order_by("pk")
            .values_list("pk")
        )
        UsageHour.objects.filter(project_id=project_pk).delete()
        rows = (
            Measurement.objects.filter(run__project_id=project_pk)
            .annotate(h=TruncHour("start"))
            .values(
                "h",
                "run__zone",
                "run__cloud_provider",
                "run__cloud_region",
                "run__location_known",
                "factor_id",
                "pue",
            )
            .annotate(
                **SUMS,
                t_imported_energy_kwh=_component_sum({"imported"}),
                t_facility_energy_kwh=Sum(ENERGY * F("pue"), output_field=FloatField()),
                t_measurement_count=Count("id"),
            )
            .order_by()
        )
        hours = [
            UsageHour(
                project_id=project_pk,
                hour=r["h"],
                zone=r["run__zone"],
                cloud_provider=r["run__cloud_provider"],
                cloud_region=r["run__cloud_region"],
                location_known=r["run__location_known"],
                factor_id=r["factor_id"],
                pue=r["pue"],
                **{f: r[f"t_{f}"] or 0.0 for f in USAGE_FIELDS if f != "measurement_count"},
                measurement_count=r["t_measurement_count"],
            )
            for r in rows
        ]
        UsageHour.objects.bulk_create(hours, batch_size=1000)
        for run in Run.objects.filter(project_id=project_pk):
            rebuild_run_totals(run)
    return len(hours)


def rebuild_run_totals(run: Run) -> None:
    """Recompute one run's totals from its measurements."""
    sums = run.measurements.aggregate(**SUMS, n=Count("id"), first=Min("start"), last=Max("end"))
    Run.objects.filter(pk=run.pk).update(
        **{name: sums[f"t_{name}"] or 0.0 for name in RUN_TOTALS},
        measurement_count=sums["n"],
        first_start=sums["first"],
        last_end=sums["last"],
    )


@dataclass
class ApplyResult:
    measurements: int
    projects: int
    emissions_before_kg: float
    emissions_after_kg: float
    zones: dict[str, tuple[float, float]]


def apply_dataset(
    dataset: carbon.Dataset,
    start: datetime,
    end: datetime,
    organisation: str | None = None,
    dry_run: bool = False,
) -> ApplyResult:
    """Re-apply the factors of ``dataset`` to measurements that started in [start, end).

    Each measurement gets the new dataset's factor for its run's zone, and its emissions are
    recomputed (IT energy x its PUE x the new factor); aggregates of the touched projects are
    rebuilt. With ``dry_run`` nothing is written and the result says what would change.
    """
    period = Q(start__gte=start, start__lt=end)
    if organisation:
        period &= Q(run__project__organisation__name=organisation)
    qs = Measurement.objects.filter(period)
    before = qs.aggregate(kg=Sum("emissions_kg"))["kg"] or 0.0
    zones: dict[str, tuple[float, float]] = {}
    count = 0
    project_pks: set[int] = set()
    with transaction.atomic():
        for zone in qs.values_list("run__zone", flat=True).distinct():
            factor = factor_record(zone, dataset)
            zone_qs = qs.filter(run__zone=zone)
            old = zone_qs.aggregate(g=Max("intensity_g_per_kwh"))["g"] or 0.0
            zones[zone] = (old, factor.g_per_kwh)
            project_pks.update(zone_qs.values_list("run__project_id", flat=True).distinct())
            count += Measurement.objects.filter(pk__in=zone_qs.values("pk")).update(
                factor=factor,
                intensity_g_per_kwh=factor.g_per_kwh,
                emissions_kg=ENERGY * F("pue") * factor.g_per_kwh / 1000.0,
            )
            # A run's own factor (shown on its page, used for later intervals) changes only
            # when the whole run lies in the period; otherwise it keeps mixed factors.
            Run.objects.filter(
                pk__in=zone_qs.values("run_id"), first_start__gte=start, last_end__lte=end
            ).update(factor=factor)
        after = Measurement.objects.filter(period).aggregate(kg=Sum("emissions_kg"))["kg"] or 0.0
        if dry_run:
            transaction.set_rollback(True)
        else:
            for pk in project_pks:
                rebuild_project(pk)
    return ApplyResult(count, len(project_pks), before, after, zones)


__all__ = ["Project", "apply_dataset", "rebuild_project", "rebuild_run_totals"]
