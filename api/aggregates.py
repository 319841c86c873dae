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
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    FloatField,
    Max,
    Min,
    Q,
    Sum,
    Value,
    When,
)

import carbon
from api.accounting import factor_record
from api.ingest import hour_shares, usage_values
from api.models import (
    MEASURED_METHODS,
    RUN_TOTALS,
    USAGE_FIELDS,
    EmissionFactor,
    Measurement,
    Organisation,
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
    "t_imported_energy_kwh": _component_sum({"imported"}),
    "t_emissions_kg": Sum("emissions_kg"),
    "t_duration_s": Sum("duration_s"),
    "t_gpu_hours": Sum(F("gpu_count") * F("duration_s") / 3600.0, output_field=FloatField()),
}


# Measurements read per round trip by rebuild_project.
REBUILD_CHUNK = 5000


def rebuild_project(project_pk: int) -> int:
    """Recompute a project's UsageHour rows and run totals; return the number of hours.

    The rows are exactly those incremental ingestion writes (up to the order floats are
    added in): each measurement is split across the UTC hours it overlaps in proportion
    to time by the same :func:`api.ingest.hour_shares` and :func:`api.ingest.usage_values`,
    and counted in the hour it starts. Measurements are read in chunks and summed in
    Python, since SQL cannot split an interval across hours cheaply.
    """
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
            .order_by("pk")
            .values_list(
                "start",
                "end",
                "duration_s",
                "cpu_energy_kwh",
                "gpu_energy_kwh",
                "ram_energy_kwh",
                "cpu_method",
                "gpu_method",
                "ram_method",
                "gpu_count",
                "emissions_kg",
                "pue",
                "factor_id",
                "run__zone",
                "run__cloud_provider",
                "run__cloud_region",
                "run__location_known",
            )
        )
        sums: dict[tuple[Any, ...], dict[str, float]] = {}
        # Ingestion sets location_known when it inserts a row and never updates it, so the
        # first measurement (in insertion order) of a row decides here too.
        known: dict[tuple[Any, ...], bool] = {}
        for row in rows.iterator(chunk_size=REBUILD_CHUNK):
            start, end, duration_s, cpu, gpu, ram, m_cpu, m_gpu, m_ram = row[:9]
            gpu_count, kg, pue, factor_id, zone, provider, region, location_known = row[9:]
            energies = ((cpu, m_cpu), (gpu, m_gpu), (ram, m_ram))
            # The same expressions as ingestion's, so the floats are the same.
            measured = sum(e for e, method in energies if method in MEASURED_METHODS)
            imported = sum(e for e, method in energies if method == "imported")
            values = usage_values(
                cpu + gpu + ram,
                cpu,
                gpu,
                ram,
                measured,
                imported,
                pue,
                kg,
                gpu_count * duration_s / 3600.0,
                duration_s,
            )
            shares = hour_shares(start, end)
            for index, (hour, share) in enumerate(shares):
                key = (hour, zone, provider, region, factor_id, pue)
                h = sums.get(key)
                if h is None:
                    h = sums[key] = dict.fromkeys(USAGE_FIELDS, 0.0)
                    known[key] = location_known
                if index == 0:
                    h["measurement_count"] += 1
                for name, value in values:
                    h[name] += value * share
        hours = []
        for key, h in sums.items():
            hour, zone, provider, region, factor_id, pue = key
            hours.append(
                UsageHour(
                    project_id=project_pk,
                    hour=hour,
                    zone=zone,
                    cloud_provider=provider,
                    cloud_region=region,
                    location_known=known[key],
                    factor_id=factor_id,
                    pue=pue,
                    **{f: h[f] for f in USAGE_FIELDS if f != "measurement_count"},
                    measurement_count=int(h["measurement_count"]),
                )
            )
        UsageHour.objects.bulk_create(hours, batch_size=1000)
        for run in Run.objects.filter(project_id=project_pk):
            rebuild_run_totals(run)
    return len(hours)


def rebuild_run_totals(run: Run) -> None:
    """Recompute one run's totals from its measurements.

    A run with measurements starts at its first measurement's start, and, once finished,
    ends at its last measurement's end, as ingestion and ``finish_run`` keep them.
    """
    sums = run.measurements.aggregate(**SUMS, n=Count("id"), first=Min("start"), last=Max("end"))
    times: dict[str, Any] = {"first_start": sums["first"], "last_end": sums["last"]}
    if sums["first"] is not None:
        times["started_at"] = sums["first"]
        times["ended_at"] = Case(
            When(ended_at__isnull=True, then=Value(None, output_field=DateTimeField())),
            default=Value(sums["last"], output_field=DateTimeField()),
            output_field=DateTimeField(),
        )
    Run.objects.filter(pk=run.pk).update(
        **{name: sums[f"t_{name}"] or 0.0 for name in RUN_TOTALS},
        measurement_count=sums["n"],
        **times,
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
        # Each organisation's figures stay on its own basis.
        pairs = qs.values_list("run__zone", "run__project__organisation__basis").distinct()
        for zone, basis in sorted(set(pairs)):
            factor = factor_record(zone, dataset, basis=basis)
            zone_qs = qs.filter(run__zone=zone, run__project__organisation__basis=basis)
            old = zone_qs.aggregate(g=Max("intensity_g_per_kwh"))["g"] or 0.0
            key = zone if basis == carbon.DEFAULT_BASIS else f"{zone} ({basis})"
            zones[key] = (old, factor.g_per_kwh)
            project_pks.update(zone_qs.values_list("run__project_id", flat=True).distinct())
            count += _point_at(zone_qs, factor)
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


def _point_at(measurements: Any, factor: Any) -> int:
    """Point measurements at ``factor`` and recompute their emissions; return how many."""
    return Measurement.objects.filter(pk__in=measurements.values("pk")).update(
        factor=factor,
        intensity_g_per_kwh=factor.g_per_kwh,
        emissions_kg=ENERGY * F("pue") * factor.g_per_kwh / 1000.0,
    )


class BasisMismatch(RuntimeError):
    """Figures of one organisation found on two bases; nothing was changed."""


def mixed_bases(organisation: Organisation) -> list[str]:
    """The bases of the factors the organisation's figures use, when not all its own."""
    used = set(
        EmissionFactor.objects.filter(usage_hours__project__organisation=organisation)
        .values_list("basis", flat=True)
        .distinct()
    )
    return sorted(used) if used - {organisation.basis} else []


def apply_basis(organisation: Organisation, basis: str) -> ApplyResult:
    """Put every figure of an organisation on ``basis`` and rebuild its aggregates.

    Each measurement and run keeps its dataset version and zone and gets that dataset's
    factor on the new basis, so changing the basis never mixes bases and never changes
    which dataset a figure came from.
    """
    wanted = carbon.check_basis(basis)
    qs = Measurement.objects.filter(run__project__organisation=organisation)
    zones: dict[str, tuple[float, float]] = {}
    count = 0
    with transaction.atomic():
        # The organisation row first: run creation reads it under a share lock
        # (api.ingest.organisation_basis_for_update), so no run is placed on the old basis
        # from here on. Then every run, in pk order as ingestion locks them, so a batch
        # either committed before (and is re-pointed below) or waits and then uses the
        # run's new factor.
        list(Organisation.objects.select_for_update().filter(pk=organisation.pk).values("pk"))
        Organisation.objects.filter(pk=organisation.pk).update(basis=wanted)
        organisation.basis = wanted
        runs = Run.objects.filter(project__organisation=organisation)
        list(runs.select_for_update().order_by("pk").values_list("pk"))
        before = qs.aggregate(kg=Sum("emissions_kg"))["kg"] or 0.0
        pairs = runs.values_list("factor__dataset_version", "zone").distinct()
        used = set(qs.values_list("factor__dataset_version", "run__zone").distinct())
        for version, zone in sorted(set(pairs) | used):
            factor = factor_record(zone, version, basis=wanted)
            in_zone = qs.filter(factor__dataset_version=version, run__zone=zone)
            old = in_zone.aggregate(g=Max("intensity_g_per_kwh"))["g"]
            if old is not None:
                zones[f"{zone} ({version})"] = (old, factor.g_per_kwh)
            count += _point_at(in_zone, factor)
            runs.filter(factor__dataset_version=version, zone=zone).update(factor=factor)
        mixed = qs.exclude(factor__basis=wanted).count()
        if mixed or runs.exclude(factor__basis=wanted).exists():
            # Never leave figures on two bases: roll back and let the task retry.
            raise BasisMismatch(
                f"{mixed} measurements of {organisation.name} are still on another basis"
            )
        project_pks = list(
            Project.objects.filter(organisation=organisation).values_list("pk", flat=True)
        )
        for pk in project_pks:
            rebuild_project(pk)
    after = qs.aggregate(kg=Sum("emissions_kg"))["kg"] or 0.0
    return ApplyResult(count, len(project_pks), before, after, zones)


__all__ = ["Project", "apply_basis", "apply_dataset", "rebuild_project", "rebuild_run_totals"]
