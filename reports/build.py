"""Collect every figure of a report from the aggregates, as one JSON-ready dict.

Owns what a report says: its figures, section by section (:func:`build_report_data`),
the inputs of the market-based method for a period (:func:`market_for`; the method itself
is :mod:`carbon.market`), the scope of a project, the methodology text (the template
``templates/reports/methodology.txt``, rendered by :func:`methodology`) and the data
checksum. How figures are shown is :mod:`reports.formatting`; rendering is
``reports.pdf`` and ``reports.renderers``.

All totals come from ``api.queries`` (the functions behind the API), so a report's totals
equal the API's for the same projects and period. Each renderer (PDF, CSV, XLSX, JSON)
reads this dict and nothing else, and rounds with ``reports.rounding``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.template.loader import render_to_string
from django.utils import timezone

import carbon
from api import periods as rule
from api import queries
from api.models import (
    ESTIMATED_METHODS,
    MEASURED_METHODS,
    USAGE_FIELDS,
    Hosting,
    Organisation,
    Project,
    Run,
    RunQuerySet,
    RunStatus,
)
from api.periods import Period
from carbon import market as mkt
from reports.formatting import count, plain, share_pct
from reports.models import ContractualInstrument
from reports.rounding import PLACES, rounded

Progress = Callable[[int, str], None]
# 2: a period that has not ended is reported to date and compared like for like
# (``period.to_date``, ``period.data_start``/``data_end``, ranges of each comparison).
SCHEMA_VERSION = 2
TOP_RUNS = 10
METHODOLOGY_TEMPLATE = "reports/methodology.txt"
# What each scope is called in the report's rows.
SCOPE_LABELS = {mkt.SCOPE_2: "Scope 2", mkt.SCOPE_3: "Scope 3 cat. 1"}


def scope_of(hosting: str) -> str:
    """Owned and colocated hardware is Scope 2; cloud use is Scope 3 category 1."""
    return mkt.SCOPE_3 if hosting == Hosting.CLOUD else mkt.SCOPE_2


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _change_pct(now: float, before: float) -> float | None:
    return (now - before) / before * 100.0 if before else None


def _dataset(version: str) -> carbon.Dataset:
    try:
        return carbon.get_dataset(version)
    except carbon.DatasetError:
        # A factor of a dataset that is no longer shipped: describe with the current one.
        return carbon.get_dataset()


def zone_label(zone: str, version: str) -> str:
    try:
        return _dataset(version).zone(zone).label
    except carbon.UnknownLocation:
        return zone


def _runs_in(projects: QuerySet[Project], start: datetime, end: datetime) -> RunQuerySet:
    return Run.objects.visible_to(projects).started_between(start, end)


# --- market-based -------------------------------------------------------------------------


def _grid_zone(version: str, zone: str) -> str:
    """The grid zone a zone's electricity comes from (a cloud zone's grid, else itself)."""
    try:
        return _dataset(version).grid_zone(zone)
    except carbon.UnknownLocation:
        return zone


def _zones_on_grid(grid: str) -> list[str]:
    """The grid zone and the cloud zones in it, of every shipped dataset."""
    zones: set[str] = set()
    for info in carbon.list_datasets():
        zones |= carbon.get_dataset(info.version).zones_in_grid(grid)
    return sorted(zones)


def consumption_rows(
    projects: QuerySet[Project], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Sums per zone, hosting, dataset version and factor basis: what the market-based
    allocation and the ESRS E1-5 energy mix both start from (one query for both)."""
    return queries.usage_breakdown(
        projects,
        start,
        end,
        "zone",
        "project__hosting",
        "factor__dataset_version",
        "factor__basis",
    )


def _instrument_covers(
    org: Organisation,
    projects: QuerySet[Project],
    all_projects: bool,
    start: datetime,
    end: datetime,
) -> tuple[list[mkt.Cover], list[dict[str, Any]]]:
    """Each overlapping instrument's kWh in the period, as covers for the allocation."""
    covers: list[mkt.Cover] = []
    described: list[dict[str, Any]] = []
    org_projects = Project.objects.filter(organisation=org)
    for inst in (
        ContractualInstrument.objects.filter(organisation=org)
        .overlapping(start, end)
        .order_by("period_start", "id")
    ):
        lo, hi = max(start, inst.start_dt), min(end, inst.end_dt)
        if hi <= lo:
            continue
        grid_zones = _zones_on_grid(inst.zone)
        zone_scope = (
            queries.hours_for(projects, lo, hi)
            .filter(zone__in=grid_zones)
            .aggregate(e=Sum("facility_energy_kwh"))["e"]
            or 0.0
        )
        if inst.mwh is not None:
            kwh = mkt.quantity_cover_kwh(inst.mwh, inst.start_dt, inst.end_dt, start, end)
            if not all_projects:
                # Part of the organisation: the instrument's share in proportion to the
                # scope's part of the organisation's consumption in that zone.
                zone_org = (
                    queries.hours_for(org_projects, lo, hi)
                    .filter(zone__in=grid_zones)
                    .aggregate(e=Sum("facility_energy_kwh"))["e"]
                    or 0.0
                )
                kwh *= zone_scope / zone_org if zone_org else 0.0
            basis = (
                f"{inst.mwh:g} MWh over {inst.period_start}..{inst.period_end}, prorated by time"
            )
        else:
            assert inst.share_pct is not None
            kwh = mkt.share_cover_kwh(inst.share_pct, float(zone_scope))
            basis = f"{inst.share_pct:g} % of consumption in {inst.zone} while valid"
        covers.append(mkt.Cover(str(inst.uuid), inst.kind, inst.zone, kwh, inst.g_per_kwh))
        described.append(
            {
                "id": str(inst.uuid),
                "kind": inst.kind,
                "kind_label": inst.get_kind_display(),
                "zone": inst.zone,
                "period_start": inst.period_start.isoformat(),
                "period_end": inst.period_end.isoformat(),
                "mwh": inst.mwh,
                "share_pct": inst.share_pct,
                "g_per_kwh": inst.g_per_kwh,
                "notes": inst.notes,
                "basis": basis,
                "available_kwh": kwh,
            }
        )
    return covers, described


def market_for(
    org: Organisation,
    projects: QuerySet[Project],
    all_projects: bool,
    start: datetime,
    end: datetime,
    rows: list[dict[str, Any]] | None = None,
) -> tuple[mkt.MarketResult, list[dict[str, Any]], list[dict[str, Any]]]:
    """Market-based result of a period, the instruments described and the zone lines.

    ``rows``: the period's :func:`consumption_rows`, when the caller has them already."""
    if rows is None:
        rows = consumption_rows(projects, start, end)
    consumption: list[mkt.Consumption] = []
    residuals: list[dict[str, Any]] = []
    for row in rows:
        version = row["factor__dataset_version"]
        # The residual mix on the basis of the location-based figure beside it.
        basis = carbon.check_basis(row["factor__basis"])
        try:
            residual = _dataset(version).residual_mix(row["zone"], basis)
        except carbon.UnknownLocation:
            residual = _dataset(version).factor(carbon.WORLD_ZONE, basis)
        consumption.append(
            mkt.Consumption(
                # Instruments are bought on a grid: a cloud region with its own published
                # factor is covered by the instruments of the grid zone it sits in.
                zone=_grid_zone(version, row["zone"]),
                scope=scope_of(row["project__hosting"]),
                energy_kwh=row["facility_energy_kwh"],
                location_kg=row["emissions_kg"],
                residual_g_per_kwh=residual.g_per_kwh,
                residual_is_fallback=residual.is_fallback,
            )
        )
        residuals.append(
            {
                "zone": row["zone"],
                "dataset_version": version,
                "g_per_kwh": residual.g_per_kwh,
                "year": residual.year,
                "source": residual.source,
                "is_fallback": residual.is_fallback,
                "note": residual.note,
            }
        )
    covers, described = _instrument_covers(org, projects, all_projects, start, end)
    result = mkt.market_based(consumption, covers)
    for item, use in zip(described, result.covers, strict=True):
        item["used_kwh"] = use.used_kwh
        item["unused_kwh"] = use.unused_kwh
        item["emissions_kg"] = use.kg
    lines = []
    for line, residual_info in zip(result.lines, residuals, strict=True):
        lines.append(
            {
                "zone": line.zone,
                "scope": line.scope,
                "facility_energy_kwh": line.energy_kwh,
                "location_kg": line.location_kg,
                "covered_kwh": line.covered_kwh,
                "covered_kg": line.covered_kg,
                "residual_kwh": line.residual_kwh,
                "residual_kg": line.residual_kg,
                "market_kg": line.market_kg,
                "residual": residual_info,
            }
        )
    return result, described, lines


# --- comparisons and summary --------------------------------------------------------------


def period_figures(
    org: Organisation, projects: QuerySet[Project], all_projects: bool, cmp: rule.Comparison
) -> dict[str, Any]:
    """Headline figures of the range a report's period is compared with (``cmp.other``):
    API totals plus market-based emissions, with the two ranges compared and why."""
    other = cmp.other
    totals = queries.usage_totals(projects, other.start, other.end)
    market, _, _ = market_for(org, projects, all_projects, other.start, other.end)
    return {
        # The label of the whole other period (2026Q3); start/end are what is compared.
        "label": rule.label_of(cmp.other_whole),
        "start": _iso(other.start),
        "end": _iso(other.end),
        "whole_start": _iso(cmp.other_whole.start),
        "whole_end": _iso(cmp.other_whole.end),
        "to_date": cmp.to_date,
        "current_start": _iso(cmp.current.start),
        "current_end": _iso(cmp.current.end),
        "description": cmp.other.describe(),
        "basis": cmp.basis,
        "text": cmp.text,
        "energy_kwh": totals["energy_kwh"],
        "facility_energy_kwh": totals["facility_energy_kwh"],
        "location_kg": totals["emissions_kg"],
        "market_kg": market.market_kg(),
        "run_count": totals["run_count"],
    }


def _summary(
    totals: dict[str, Any], market_kg: float, before: dict[str, Any], year_ago: dict[str, Any]
) -> dict[str, Any]:
    now = {
        "energy_kwh": totals["energy_kwh"],
        "facility_energy_kwh": totals["facility_energy_kwh"],
        "location_kg": totals["emissions_kg"],
        "market_kg": market_kg,
    }
    out: dict[str, Any] = {
        **now,
        "energy_mwh": rounded(totals["energy_kwh"] / 1000.0, PLACES["mwh"]),
        "facility_energy_mwh": rounded(totals["facility_energy_kwh"] / 1000.0, PLACES["mwh"]),
        "location_t": rounded(totals["emissions_kg"] / 1000.0, PLACES["t"]),
        "market_t": rounded(market_kg / 1000.0, PLACES["t"]),
        "run_count": totals["run_count"],
        "gpu_hours": totals["gpu_hours"],
        "measurement_count": totals["measurement_count"],
        "intensity_g_per_kwh": totals["intensity_g_per_kwh"],
        "comparisons": {},
    }
    for name, other in (("previous_period", before), ("same_period_last_year", year_ago)):
        out["comparisons"][name] = {
            **other,
            "change_pct": {k: _change_pct(now[k], other[k]) for k in now},
        }
    return out


# --- sections -----------------------------------------------------------------------------


def _projects(projects: QuerySet[Project], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per project: runs started in the period and usage, largest emissions first."""
    run_counts = dict(
        _runs_in(projects, start, end)
        .order_by()
        .values_list("project__uuid")
        .annotate(n=Count("id"))
    )
    by_project: list[dict[str, Any]] = []
    usage = {
        str(r["project__uuid"]): r
        for r in queries.usage_breakdown(projects, start, end, "project__uuid")
    }
    for p in projects:
        row = usage.get(str(p.uuid), dict.fromkeys(USAGE_FIELDS, 0.0))
        by_project.append(
            {
                "id": str(p.uuid),
                "name": p.name,
                "hosting": p.hosting,
                "scope": SCOPE_LABELS[scope_of(p.hosting)],
                "run_count": int(run_counts.get(p.uuid, 0)),
                **{f: float(row[f] or 0.0) for f in USAGE_FIELDS if f != "measurement_count"},
                "measurement_count": int(row["measurement_count"] or 0),
            }
        )
    by_project.sort(key=lambda r: (-r["emissions_kg"], r["name"]))
    return by_project


def _zones(
    projects: QuerySet[Project],
    start: datetime,
    end: datetime,
    version: str,
    market_lines: list[dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """Usage per zone, provider and region (zones named in ``version``), per zone with its
    market-based emissions, and per provider."""
    market_by_zone: dict[str, float] = {}
    for line in market_lines:
        market_by_zone[line["zone"]] = market_by_zone.get(line["zone"], 0.0) + line["market_kg"]
    zones = []
    for row in queries.usage_breakdown(
        projects, start, end, "zone", "cloud_provider", "cloud_region"
    ):
        zones.append({**row, "zone_label": zone_label(row["zone"], version)})
    zones.sort(
        key=lambda r: (-r["emissions_kg"], r["zone"], r["cloud_provider"], r["cloud_region"])
    )
    by_zone = []
    for row in queries.usage_breakdown(projects, start, end, "zone"):
        by_zone.append({**row, "market_kg": market_by_zone.get(row["zone"], 0.0)})
    by_zone.sort(key=lambda r: (-r["emissions_kg"], r["zone"]))
    providers = sorted(
        queries.usage_breakdown(projects, start, end, "cloud_provider"),
        key=lambda r: (-r["emissions_kg"], r["cloud_provider"]),
    )
    return {"zones": zones, "by_zone": by_zone, "providers": providers}


def _energy(
    projects: QuerySet[Project], start: datetime, end: datetime, totals: dict[str, Any]
) -> dict[str, Any]:
    """IT energy by component and by method, and the PUEs applied."""
    energy = totals["energy_kwh"]
    components = {
        c: {
            "energy_kwh": totals[f"{c}_energy_kwh"],
            "share_pct": share_pct(totals[f"{c}_energy_kwh"], energy),
        }
        for c in ("cpu", "gpu", "ram")
    }
    methods = {
        name: {
            "energy_kwh": totals[f"{name}_energy_kwh"],
            "share_pct": share_pct(totals[f"{name}_energy_kwh"], energy),
        }
        for name in ("measured", "estimated", "imported")
    }
    pue_rows = sorted(queries.usage_breakdown(projects, start, end, "pue"), key=lambda r: r["pue"])
    pue = {
        "weighted_average": totals["facility_energy_kwh"] / energy if energy else None,
        "values": [
            {
                "pue": r["pue"],
                "energy_kwh": r["energy_kwh"],
                "facility_energy_kwh": r["facility_energy_kwh"],
            }
            for r in pue_rows
        ],
    }
    return {"components": components, "methods": methods, "pue": pue}


FACTOR_DIMS = (
    "zone",
    "factor__dataset_version",
    "factor__kind",
    "factor__g_per_kwh",
    "factor__year",
    "factor__source",
    "factor__licence",
    "factor__url",
    "factor__is_fallback",
    "factor__basis",
    "factor__derived",
    "factor__note",
)


def _factors(projects: QuerySet[Project], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every emission factor applied in the period, with the energy and emissions it got."""
    factors = []
    for row in queries.usage_breakdown(projects, start, end, *FACTOR_DIMS):
        factors.append(
            {
                "zone": row["zone"],
                "zone_label": zone_label(row["zone"], row["factor__dataset_version"]),
                "dataset_version": row["factor__dataset_version"],
                "kind": row["factor__kind"],
                "g_per_kwh": row["factor__g_per_kwh"],
                "year": row["factor__year"],
                "source": row["factor__source"],
                "licence": row["factor__licence"],
                "url": row["factor__url"],
                "is_fallback": row["factor__is_fallback"],
                "basis": row["factor__basis"],
                "derived": row["factor__derived"],
                "note": row["factor__note"],
                "facility_energy_kwh": row["facility_energy_kwh"],
                "emissions_kg": row["emissions_kg"],
            }
        )
    factors.sort(key=lambda r: (r["zone"], r["dataset_version"], r["g_per_kwh"]))
    return factors


def _datasets(versions: list[str]) -> list[dict[str, Any]]:
    datasets = []
    for v in versions:
        info = _dataset(v).info()
        datasets.append(
            {
                "version": v,
                "name": info.name,
                "year": info.year,
                "source": info.source,
                "licence": info.licence,
                "url": info.url,
            }
        )
    return datasets


def _intensity(totals: dict[str, Any]) -> dict[str, Any]:
    energy = totals["energy_kwh"]
    runs = totals["run_count"]
    return {
        "kg_per_run": totals["emissions_kg"] / runs if runs else None,
        "kwh_per_run": energy / runs if runs else None,
        "kg_per_gpu_hour": totals["emissions_kg"] / totals["gpu_hours"]
        if totals["gpu_hours"]
        else None,
        "kwh_per_gpu_hour": energy / totals["gpu_hours"] if totals["gpu_hours"] else None,
        "g_per_kwh": totals["intensity_g_per_kwh"],
    }


def _top_runs(projects: QuerySet[Project], start: datetime, end: datetime) -> list[dict[str, Any]]:
    top = []
    for r in (
        _runs_in(projects, start, end)
        .select_related("project", "experiment")
        .order_by("-emissions_kg", "started_at", "id")[:TOP_RUNS]
    ):
        top.append(
            {
                "id": str(r.uuid),
                "name": r.name or r.run_key,
                "project": r.project.name,
                "experiment": r.experiment.name,
                "status": r.status,
                "started_at": _iso(r.started_at),
                "zone": r.zone,
                "energy_kwh": r.energy_kwh,
                "emissions_kg": r.emissions_kg,
                "gpu_hours": r.gpu_hours,
                "measured_share_pct": share_pct(r.measured_energy_kwh, r.energy_kwh),
            }
        )
    return top


def _e1_5(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ESRS E1-5: facility energy by source, from the period's :func:`consumption_rows`."""
    cats = ("fossil", "nuclear", "renewable", "unknown")
    table = {scope: dict.fromkeys(cats, 0.0) for scope in (mkt.SCOPE_2, mkt.SCOPE_3)}
    mixes: dict[str, Any] = {}
    for row in rows:
        energy = row["facility_energy_kwh"]
        target = table[scope_of(row["project__hosting"])]
        try:
            mix = _dataset(row["factor__dataset_version"]).mix(row["zone"])
        except carbon.UnknownLocation:
            mix = None
        if mix is None:
            target["unknown"] += energy
            mixes[row["zone"]] = None
            continue
        parts = {
            "fossil": mix.fossil_pct,
            "nuclear": mix.nuclear_pct,
            "renewable": mix.renewable_pct,
        }
        total_pct = sum(parts.values())
        scale = 100.0 / total_pct if total_pct > 100.0 else 1.0
        for name, part_pct in parts.items():
            target[name] += energy * part_pct * scale / 100.0
        target["unknown"] += energy * max(100.0 - total_pct * scale, 0.0) / 100.0
        mixes[row["zone"]] = {**parts, "year": mix.year, "source": mix.source}
    return {
        "unit": "kWh",
        "own_operations": table[mkt.SCOPE_2],
        "cloud": table[mkt.SCOPE_3],
        "total": {c: table[mkt.SCOPE_2][c] + table[mkt.SCOPE_3][c] for c in cats},
        "mixes": mixes,
    }


def _e1_6(market: mkt.MarketResult) -> dict[str, Any]:
    """ESRS E1-6: gross Scope 2 and Scope 3 category 1, location- and market-based."""
    return {
        "scope2_location_kg": market.location_kg(mkt.SCOPE_2),
        "scope2_market_kg": market.market_kg(mkt.SCOPE_2),
        "scope3_cat1_location_kg": market.location_kg(mkt.SCOPE_3),
        "scope3_cat1_market_kg": market.market_kg(mkt.SCOPE_3),
        "total_location_kg": market.location_kg(),
        "total_market_kg": market.market_kg(),
        "scope2_energy_kwh": market.energy_kwh(mkt.SCOPE_2),
        "scope3_energy_kwh": market.energy_kwh(mkt.SCOPE_3),
    }


def _gaps(
    projects: QuerySet[Project], start: datetime, end: datetime, totals: dict[str, Any]
) -> dict[str, Any]:
    unknown = (
        queries.hours_for(projects, start, end)
        .filter(location_known=False)
        .aggregate(energy_kwh=Sum("energy_kwh"), emissions_kg=Sum("emissions_kg"))
    )
    runs = _runs_in(projects, start, end)
    lost = runs.filter(status=RunStatus.LOST)
    lost_totals = queries.run_totals(lost)
    return {
        "location_unknown_energy_kwh": float(unknown["energy_kwh"] or 0.0),
        "location_unknown_emissions_kg": float(unknown["emissions_kg"] or 0.0),
        "location_unknown_share_pct": share_pct(
            float(unknown["energy_kwh"] or 0.0), totals["energy_kwh"]
        ),
        "lost_run_count": lost_totals["run_count"],
        "lost_energy_kwh": lost_totals["energy_kwh"],
        "lost_runs": [
            {
                "id": str(r.uuid),
                "name": r.name or r.run_key,
                "project": r.project.name,
                "last_seen_at": _iso(r.last_seen_at),
            }
            for r in lost.select_related("project").order_by("started_at", "id")[:20]
        ],
        "running_run_count": runs.filter(status=RunStatus.RUNNING).count(),
        "imported_energy_kwh": totals["imported_energy_kwh"],
        "imported_share_pct": share_pct(totals["imported_energy_kwh"], totals["energy_kwh"]),
    }


def _monthly(projects: QuerySet[Project], start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [
        {
            "month": p["t"].strftime("%Y-%m"),
            "energy_kwh": p["energy_kwh"],
            "emissions_kg": p["emissions_kg"],
        }
        for p in queries.usage_series(projects, start, end, "month")
    ]


def detail_rows(
    projects: QuerySet[Project], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Rows per project, month, zone, provider, region, factor and PUE: the CSV detail."""
    dims = (
        "project__uuid",
        "project__name",
        "project__hosting",
        "month",
        "zone",
        "cloud_provider",
        "cloud_region",
        "location_known",
        "pue",
        "factor__dataset_version",
        "factor__g_per_kwh",
        "factor__year",
        "factor__is_fallback",
        "factor__basis",
        "factor__derived",
    )
    qs = (
        queries.hours_for(projects, start, end)
        .annotate(month=TruncMonth("hour"))
        .values(*dims)
        .annotate(**{f: Sum(f) for f in USAGE_FIELDS})
        .order_by(
            "project__name",
            "month",
            "zone",
            "cloud_provider",
            "cloud_region",
            "factor__dataset_version",
            "pue",
        )
    )
    out = []
    for row in qs:
        out.append(
            {
                "project_id": str(row["project__uuid"]),
                "project": row["project__name"],
                "scope": SCOPE_LABELS[scope_of(row["project__hosting"])],
                "month": row["month"].strftime("%Y-%m"),
                "zone": row["zone"],
                "cloud_provider": row["cloud_provider"],
                "cloud_region": row["cloud_region"],
                "location_known": row["location_known"],
                "pue": row["pue"],
                "dataset_version": row["factor__dataset_version"],
                "factor_g_per_kwh": row["factor__g_per_kwh"],
                "factor_year": row["factor__year"],
                "factor_is_fallback": row["factor__is_fallback"],
                "factor_basis": row["factor__basis"],
                "factor_derived": row["factor__derived"],
                **{
                    f: (int(row[f] or 0) if f == "measurement_count" else float(row[f] or 0.0))
                    for f in USAGE_FIELDS
                },
            }
        )
    return out


# --- methodology --------------------------------------------------------------------------


def methodology(
    versions: list[str], measurement_count: int, basis: str = carbon.DEFAULT_BASIS
) -> list[dict[str, str]]:
    """Plain-words methodology, every default quoted from the dataset that supplied it:
    ``templates/reports/methodology.txt`` rendered with these figures, as sections."""
    current = _dataset(versions[0] if versions else carbon.DEFAULT_VERSION)
    # The fallback on the report's basis, the figure unknown locations actually get.
    world = current.factor(carbon.WORLD_ZONE, carbon.check_basis(basis))
    context = {
        "basis_label": carbon.BASIS_LABELS[basis],
        "basis_description": carbon.BASIS_DESCRIPTIONS[basis],
        "measured_methods": ", ".join(sorted(MEASURED_METHODS)),
        "estimated_methods": ", ".join(sorted(ESTIMATED_METHODS)),
        "providers": "; ".join(
            f"{p.name} {plain(p.pue)} ({p.source})" for p in current.providers.values()
        ),
        "default_pue": plain(current.default_pue),
        "default_pue_source": current.default_pue_source,
        "world_g_per_kwh": plain(world.g_per_kwh),
        "world_source": world.source,
        "world_year": str(world.year),
        "datasets": ", ".join(versions) or "none",
        "residual_mix_fallback": current.residual_mix_fallback,
        "places_mwh": str(PLACES["mwh"]),
        "places_pct": str(PLACES["pct"]),
        "measurement_count": count(measurement_count),
    }
    return sections_of(render_to_string(METHODOLOGY_TEMPLATE, context))


def sections_of(text: str) -> list[dict[str, str]]:
    """``[{"title", "text"}]`` from the methodology template's layout: a ``## Title`` line
    starts a section, the lines after it are joined with single spaces."""
    sections: list[dict[str, str]] = []
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("## "):
            if sections:
                sections[-1]["text"] = " ".join(lines)
            sections.append({"title": line[3:].strip(), "text": ""})
            lines = []
        elif line:
            lines.append(line)
    if sections:
        sections[-1]["text"] = " ".join(lines)
    return sections


# --- the report ---------------------------------------------------------------------------


def build_report_data(
    org: Organisation,
    projects: QuerySet[Project],
    all_projects: bool,
    period: Period,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every figure of the report; deterministic for the same inputs and data.

    ``now`` (default: the current time) only matters for a period that has not ended:
    the report then covers it to date, up to the start of ``now``'s hour, and compares
    like for like (:func:`api.periods.compare`). A finished period does not depend on it.
    """

    def step(pct: int, message: str) -> None:
        if progress is not None:
            progress(pct, message)

    now = now or timezone.now()
    whole = period.span
    against_previous = rule.compare(whole, now, "previous")
    against_year = rule.compare(whole, now, "year_before")
    # Every figure of the report covers this range: the whole period, or to date.
    start, end = against_previous.current.start, against_previous.current.end
    projects = projects.order_by("name")
    step(5, "Totals")
    totals = queries.usage_totals(projects, start, end)
    step(15, "Market-based accounting")
    consumption = consumption_rows(projects, start, end)
    market, instruments, market_lines = market_for(
        org, projects, all_projects, start, end, consumption
    )
    step(25, "Comparisons")
    before = period_figures(org, projects, all_projects, against_previous)
    year_ago = period_figures(org, projects, all_projects, against_year)
    step(35, "Projects")
    by_project = _projects(projects, start, end)
    step(45, "Zones, regions and providers")
    # Every factor applied, and so every dataset version used.
    factors = _factors(projects, start, end)
    versions = sorted({f["dataset_version"] for f in factors})
    zones = _zones(
        projects, start, end, versions[0] if versions else carbon.DEFAULT_VERSION, market_lines
    )
    step(55, "Components, methods and PUE")
    energy = _energy(projects, start, end, totals)
    step(65, "Emission factors")
    datasets = _datasets(versions)
    step(72, "Data gaps and intensity")
    gaps = _gaps(projects, start, end, totals)
    intensity = _intensity(totals)
    step(78, "Top runs")
    top = _top_runs(projects, start, end)
    step(84, "ESRS tables")
    e1_5 = _e1_5(consumption)
    e1_6 = _e1_6(market)
    step(88, "Monthly series and detail rows")
    monthly = _monthly(projects, start, end)
    detail = detail_rows(projects, start, end)

    return {
        "schema": SCHEMA_VERSION,
        "organisation": {"id": str(org.uuid), "name": org.name},
        # One basis for every figure of the report (the organisation's, when generated).
        "basis": {
            "id": org.basis,
            "label": carbon.BASIS_LABELS[org.basis],
            "description": carbon.BASIS_DESCRIPTIONS[org.basis],
            "factor_bases": sorted({f["basis"] for f in factors}),
            # True only if some figure used a factor of another basis (a basis change
            # still being applied): every format then says so instead of "one basis".
            "mixed": bool({f["basis"] for f in factors} - {org.basis}),
        },
        "period": {
            "label": period.label,
            "start": _iso(period.start),
            "end": _iso(period.end),
            "to_date": against_previous.to_date,
            "data_start": _iso(start),
            "data_end": _iso(end),
            "description": against_previous.current.describe(),
            "title": period_title(period.label, against_previous),
        },
        "scope": {
            "all_projects": all_projects,
            "projects": [
                {"id": str(p.uuid), "name": p.name, "hosting": p.hosting} for p in projects
            ],
        },
        "totals": totals,
        "summary": _summary(totals, market.market_kg(), before, year_ago),
        "projects": by_project,
        **zones,
        **energy,
        "factors": factors,
        "datasets": datasets,
        "market": {
            "instruments": instruments,
            "lines": market_lines,
            "covered_kwh": market.covered_kwh(),
        },
        "esrs_e1_5": e1_5,
        "esrs_e1_6": e1_6,
        "gaps": gaps,
        "intensity": intensity,
        "top_runs": top,
        "monthly": monthly,
        "methodology": methodology(versions, totals["measurement_count"], org.basis),
        "detail": detail,
    }


def period_title(label: str, cmp: rule.Comparison) -> str:
    """``2026Q3``, or ``2026Q4, to date: data up to 1 Dec 2026 11:00 UTC``."""
    if not cmp.to_date:
        return label
    return f"{label}, to date: data up to {rule.moment_text(cmp.current.end)} UTC"


def _canonical(value: Any) -> Any:
    # 12 significant digits: PostgreSQL may add floats in a different order between two
    # runs, which changes the last bits of a sum but never a shown digit.
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def data_checksum(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the figures (sorted keys, 12 significant digits)."""
    text = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
