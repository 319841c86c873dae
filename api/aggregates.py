"""Rebuilding aggregates from raw measurements, and re-applying a factor dataset.

Ingestion keeps ``UsageHour`` and run totals current incrementally; these functions
recompute them from scratch for a project with the same SQL (``api.sums``), which is what re-applying a newer
emission-factor dataset to a period needs (and a way to repair after manual edits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Q, Sum
from django.db.models.expressions import RawSQL

import carbon
from api import partitions, sums
from api.accounting import factor_record
from api.ingest import PLACEMENT
from api.models import (
    EmissionFactor,
    Measurement,
    Organisation,
    Project,
    Run,
    UsageHour,
)
from carbon.accounting import emissions_sql


def rebuild_project(project_pk: int) -> int:
    """Recompute a project's UsageHour rows and run totals from its measurements; return
    the number of hour rows written.

    The rows are exactly those ingestion writes (``api.sums``: the same SQL, over every
    stored measurement instead of one batch). When retention has dropped old raw
    measurements (``api.partitions``), the hours before ``raw_complete_from()`` and the
    totals of runs that started before it are kept as they are: their raw data is gone.
    """
    d = sums.dialect(connection.vendor)
    since = partitions.raw_complete_from()
    with transaction.atomic():
        # Lock the project's runs (in pk order, as ingestion locks one run at a time) so no
        # batch commits between the recount and the write and is lost from the totals.
        list(
            Run.objects.select_for_update()
            .filter(project_id=project_pk)
            .order_by("pk")
            .values_list("pk")
        )
        hours = UsageHour.objects.filter(project_id=project_pk)
        runs = f"r.project_id = {int(project_pk)}"
        measurements = f"r.project_id = {int(project_pk)}"
        since_sql = None
        if since is not None:
            hours = hours.filter(hour__gte=since)
            measurements += ' AND i."end" > %s'
            since_sql = "%s"
            runs += " AND (r.first_start IS NULL OR r.first_start >= %s)"
        hours.delete()
        source = (
            f"(SELECT i.*, {PLACEMENT} FROM api_measurement i "  # noqa: S608
            f"JOIN api_run r ON r.id = i.run_id WHERE {measurements})"
        )
        # Every placeholder of these statements stands for ``since``.
        params = [] if since is None else [connection.ops.adapt_datetimefield_value(since)] * 2
        with connection.cursor() as cursor:
            prefix = ""
            if connection.vendor != "postgresql":
                cursor.execute(
                    f'SELECT MAX(hub_seconds(m."end", m.start)) FROM {source} m',  # noqa: S608
                    params[:1],
                )
                longest = cursor.fetchone()[0] or 0.0
                prefix = f"WITH RECURSIVE {sums.sqlite_offsets(int(longest // 3600) + 2)} "
            cursor.execute(prefix + sums.upsert_hours(sums.hour_rows(source, d, since_sql)), params)
            cursor.execute(sums.set_runs(sums.run_sums(source), d, runs), params)
        return UsageHour.objects.filter(project_id=project_pk).count()


def rebuild_run_totals(run: Run) -> None:
    """Recompute one run's totals from its measurements (``api.sums``).

    A run with measurements starts at its first measurement's start, and, once finished,
    ends at its last measurement's end, as ingestion and ``Run.finish`` keep them.
    """
    source = (
        f"(SELECT i.*, {PLACEMENT} FROM api_measurement i "  # noqa: S608
        f"JOIN api_run r ON r.id = i.run_id WHERE i.run_id = {int(run.pk)})"
    )
    d = sums.dialect(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sums.set_runs(sums.run_sums(source), d, f"r.id = {int(run.pk)}"))


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
    energy = '"cpu_energy_kwh" + "gpu_energy_kwh" + "ram_energy_kwh"'
    return Measurement.objects.filter(pk__in=measurements.values("pk")).update(
        factor=factor,
        intensity_g_per_kwh=factor.g_per_kwh,
        emissions_kg=RawSQL(emissions_sql(energy, '"pue"', "%s"), [factor.g_per_kwh]),  # noqa: S611
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
