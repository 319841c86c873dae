"""Read-only pages: organisation overview, project, experiment and run, the run's live
JSON, the public project page and the locally served plotly.js.

Pages read the aggregates through ``api.queries`` (never raw measurements, except the
one run of a run page) and hand plain rows to the pure figure builders of
``dashboards.charts``. What a page may show is ``dashboards.access`` (the organisation
in its URL); its period is the one ``api.periods.Period`` (read by
``dashboards.periods.parse_period``); runs in it are ``Run.objects.started_between``.
The management pages are ``dashboards.manage``.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import plotly
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

import carbon
from api import queries
from api.access import get_or_404
from api.models import METHOD_CHOICES, Project, Run, RunStatus
from api.periods import Period
from dashboards import charts, formatting
from dashboards.access import org_access, user_organisations
from dashboards.periods import PRESETS, PeriodError, parse_period

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# Country outlines of the world map, served as a static file to plotly.js (see SOURCE.md
# next to it); read here only to name the countries the map cannot draw.
WORLD_TOPOJSON = Path(__file__).parent / "static" / "dashboards" / "topojson" / "world_110m.json"
TOP_RUNS = 10
# The experiment page lists at most this many runs (newest first); totals cover all.
MAX_EXPERIMENT_RUNS = 500
# Seconds between two polls of a running run's live JSON.
LIVE_POLL_S = 5
BUCKETS = ("day", "week", "month")
# Metrics whose name says smaller is better (the Pareto frontier then minimises them).
LOWER_IS_BETTER = ("loss", "error", "perplexity", "wer", "cer", "rmse", "mae", "mse")


# --- shared helpers ---------------------------------------------------------------------


def read_period(request: HttpRequest) -> tuple[Period, str | None]:
    """The requested period, or the default one and the reason the request was refused."""
    try:
        return parse_period(request.GET), None
    except PeriodError as exc:
        return parse_period({}), str(exc)


def read_bucket(request: HttpRequest, period: Period) -> str:
    bucket = request.GET.get("bucket", "")
    return bucket if bucket in BUCKETS else period.bucket


def zone_labels(zones: Any) -> dict[str, str]:
    """Readable names of grid zones (``FRA`` -> ``France``) from the current dataset."""
    dataset = carbon.get_dataset()
    labels: dict[str, str] = {}
    for zone in zones:
        try:
            labels[str(zone)] = dataset.zone(str(zone)).label
        except carbon.UnknownLocation:
            labels[str(zone)] = str(zone)
    return labels


def provider_labels() -> dict[str, str]:
    labels = {pid: p.name for pid, p in carbon.get_dataset().providers.items()}
    labels[""] = "Not in a public cloud"
    return labels


def page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a page with what the header needs: the organisation switcher and the period."""
    if request.user.is_authenticated:
        context.setdefault("organisations", user_organisations(request.user))
    context.setdefault("presets", PRESETS)
    if context.get("period_error"):
        status = 400
    return render(request, template, context, status=status)


def figure_ids(figures: dict[str, charts.Figure]) -> dict[str, dict[str, Any]]:
    """Figures keyed by their element id, with whether they hold data."""
    return {
        name: {
            "id": f"fig-{name}",
            "data_id": f"fig-{name}-data",
            "figure": fig,
            "has_data": bool(fig["data"]),
        }
        for name, fig in figures.items()
    }


def with_changes(current: dict[str, Any], previous: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline cards: energy, emissions, runs and GPU-hours, each against the range
    the period is compared with (``Period.previous``: like for like when it is to date)."""
    cards = [
        ("Energy (IT)", "energy_kwh", formatting.energy),
        ("Emissions", "emissions_kg", formatting.mass),
        ("Runs started", "run_count", lambda v: f"{v:,}"),
        ("GPU-hours", "gpu_hours", lambda v: f"{formatting.number(v)} GPU-h"),
    ]
    return [
        {
            "label": label,
            "key": key,
            "value": fmt(current[key]),
            "previous": fmt(previous[key]),
            "change": formatting.change(float(current[key]), float(previous[key])),
        }
        for label, key, fmt in cards
    ]


def equivalents_of(emissions_kg: float, g_per_kwh: float | None) -> list[carbon.Equivalent]:
    if emissions_kg <= 0:
        return []
    return carbon.equivalents(emissions_kg, g_per_kwh)


# --- home and organisation overview -----------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The first organisation of the user, or a page that says there is none yet."""
    orgs = user_organisations(request.user)
    if len(orgs) >= 1:
        return redirect("dash:overview", org_id=orgs[0].uuid)
    return page(request, "dashboards/no_org.html", {})


@login_required
@require_GET
def overview(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    period, period_error = read_period(request)
    bucket = read_bucket(request, period)
    projects = access.projects()
    # Every figure of the period covers the same range: all of it, or to date.
    start, end = period.data_start, period.data_end
    totals = queries.usage_totals(projects, start, end)
    prev = period.previous()
    previous = queries.usage_totals(projects, prev.start, prev.end)
    series = queries.usage_series(projects, start, end, bucket, by="project__name")
    by_zone = queries.usage_breakdown(projects, start, end, "zone")
    by_provider = queries.usage_breakdown(projects, start, end, "cloud_provider")
    by_project = queries.usage_breakdown(projects, start, end, "project__uuid", "project__name")
    for row in by_project:
        row["measured_share"] = (
            row["measured_energy_kwh"] / row["energy_kwh"] if row["energy_kwh"] else None
        )
    runs = Run.objects.visible_to(projects).started_between(start, end)
    top_runs = list(
        runs.select_related("project", "experiment").order_by("-emissions_kg")[:TOP_RUNS]
    )
    unknown = runs.filter(location_known=False)
    unknown_runs = list(unknown.select_related("project").order_by("-emissions_kg")[:TOP_RUNS])
    unknown_kg = sum(r["emissions_kg"] for r in by_zone if r["zone"] == carbon.WORLD_ZONE)
    labels = zone_labels(r["zone"] for r in by_zone)
    figures = figure_ids(
        {
            "time": charts.emissions_over_time(
                series, by="project__name", bucket=bucket, span=(start, end)
            ),
            "zones": charts.breakdown_bar(by_zone, "zone", labels),
            "providers": charts.breakdown_bar(by_provider, "cloud_provider", provider_labels()),
            "methods": charts.energy_methods(
                totals["measured_energy_kwh"],
                totals["imported_energy_kwh"],
                totals["estimated_energy_kwh"],
            ),
        }
    )
    return page(
        request,
        "dashboards/overview.html",
        {
            "access": access,
            "org": access.org,
            "period": period,
            "period_error": period_error,
            "bucket": bucket,
            "buckets": BUCKETS,
            "totals": totals,
            "previous_period": prev,
            "cards": with_changes(totals, previous),
            "figures": figures,
            "by_project": by_project,
            "top_runs": top_runs,
            "unknown_runs": unknown_runs,
            "unknown_count": unknown.count() if unknown_runs else 0,
            "unknown_kg": unknown_kg,
            "equivalents": equivalents_of(totals["emissions_kg"], totals["intensity_g_per_kwh"]),
            "project_count": projects.count(),
        },
        status=400 if period_error else 200,
    )


# --- project ----------------------------------------------------------------------------


def site_pue(totals: dict[str, Any]) -> float | None:
    """The project's energy-weighted PUE over the period, so that the what-if compares
    like with like; None without energy."""
    if not totals["energy_kwh"]:
        return None
    pue = totals["facility_energy_kwh"] / totals["energy_kwh"]
    return min(max(pue, carbon.MIN_PUE), carbon.MAX_PUE)


@cache
def mapped_countries() -> frozenset[str]:
    """ISO alpha-3 codes of the countries the world map's outlines contain."""
    topology = json.loads(WORLD_TOPOJSON.read_text(encoding="utf-8"))
    geometries = topology["objects"]["countries"]["geometries"]
    return frozenset(str(g["id"]) for g in geometries if g.get("id"))


def what_if_rows(
    totals: dict[str, Any], project_pue: float | None, basis: str = carbon.DEFAULT_BASIS
) -> dict[str, Any]:
    """Alternatives for the project's energy over the period: every cloud region and
    country, the cleanest region of each provider, and savings against what it emitted.
    Factors are on the organisation's basis, as its own emissions are."""
    energy = totals["energy_kwh"]
    actual = totals["emissions_kg"]
    if energy <= 0:
        return {
            "alternatives": [],
            "cleanest": [],
            "figure": charts.what_if_countries([], 0.0),
            "map": charts.what_if_map([], 0.0),
            "unmapped": [],
        }
    # The PUE the project actually ran at over the period (a cloud run uses its
    # provider's), so that its own grid shows no saving or penalty against itself.
    alternatives = carbon.what_if(
        energy, pue=site_pue(totals) or project_pue, basis=carbon.check_basis(basis)
    )

    def row(alt: carbon.Alternative) -> dict[str, Any]:
        saving = actual - alt.emissions_kg
        return {
            "alt": alt,
            "saving_kg": saving,
            "saving_pct": saving / actual if actual > 0 else None,
        }

    cleanest = sorted(
        carbon.cleanest_per_provider(alternatives).values(), key=lambda a: a.emissions_kg
    )
    return {
        "alternatives": [row(a) for a in alternatives],
        "cleanest": [row(a) for a in cleanest],
        "figure": charts.what_if_countries(alternatives, actual),
        "map": charts.what_if_map(alternatives, actual),
        "unmapped": sorted(
            a.label
            for a in alternatives
            if a.kind == "country" and a.zone not in mapped_countries()
        ),
    }


def grid_mixes(zones: list[str]) -> tuple[list[carbon.Mix], dict[str, str]]:
    """Generation mix of the countries the project's zones are in, where the dataset has it."""
    dataset = carbon.get_dataset()
    seen: dict[str, carbon.Mix] = {}
    for zone in zones:
        try:
            country = dataset.zone(zone).country or zone
        except carbon.UnknownLocation:
            continue
        mix = dataset.mix(country)
        if mix is not None:
            seen.setdefault(mix.zone, mix)
    mixes = list(seen.values())
    return mixes, zone_labels(m.zone for m in mixes)


def project_context(project: Project, period: Period, bucket: str) -> dict[str, Any]:
    """Everything the project page shows, for the signed-in and the public page alike."""
    qs: QuerySet[Project] = Project.objects.filter(pk=project.pk)
    # Every figure of the period covers the same range: all of it, or to date.
    start, end = period.data_start, period.data_end
    totals = queries.usage_totals(qs, start, end)
    prev = period.previous()
    previous = queries.usage_totals(qs, prev.start, prev.end)
    all_time = queries.run_totals(Run.objects.filter(project=project))
    last_run = (
        Run.objects.filter(project=project)
        .select_related("experiment", "factor")
        .order_by("-started_at")
        .first()
    )
    series = queries.usage_series(qs, start, end, bucket, by="zone")
    where = queries.usage_breakdown(qs, start, end, "zone", "cloud_provider", "cloud_region")
    zones = sorted({r["zone"] for r in where})
    labels = zone_labels(zones)
    for r in where:
        r["zone_label"] = labels.get(r["zone"], r["zone"])
    whatif = what_if_rows(totals, project.pue, project.organisation.basis)
    mixes, mix_labels = grid_mixes(zones)
    figures = figure_ids(
        {
            "time": charts.emissions_over_time(series, by="zone", bucket=bucket, span=(start, end)),
            "where": charts.breakdown_bar(
                queries.usage_breakdown(qs, start, end, "zone"), "zone", labels
            ),
            "map": whatif["map"],
            "countries": whatif["figure"],
            "mix": charts.grid_mix(mixes, mix_labels),
            "methods": charts.energy_methods(
                totals["measured_energy_kwh"],
                totals["imported_energy_kwh"],
                totals["estimated_energy_kwh"],
            ),
        }
    )
    return {
        "project": project,
        "org": project.organisation,
        "period": period,
        "bucket": bucket,
        "buckets": BUCKETS,
        "totals": totals,
        "cards": with_changes(totals, previous),
        "previous_period": prev,
        "all_time": all_time,
        "last_run": last_run,
        "experiments": list(queries.experiments_with_totals(project, start, end)),
        "where": where,
        "whatif": whatif,
        "mixes": mixes,
        "figures": figures,
        "equivalents": equivalents_of(totals["emissions_kg"], totals["intensity_g_per_kwh"]),
    }


@login_required
@require_GET
def project_page(request: HttpRequest, org_id: str, project_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    project = access.project(project_id)
    period, period_error = read_period(request)
    context = project_context(project, period, read_bucket(request, period))
    context.update(access=access, period_error=period_error, public=False)
    return page(request, "dashboards/project.html", context)


@require_GET
def public_project(request: HttpRequest, token: str) -> HttpResponse:
    """The project page for anyone holding the link, without management or run pages."""
    if not token:
        raise Http404
    project = Project.objects.select_related("organisation").filter(public_token=token).first()
    if project is None:
        raise Http404("This public link does not exist or was disabled.")
    period, period_error = read_period(request)
    context = project_context(project, period, read_bucket(request, period))
    context.update(public=True, period_error=period_error, organisations=[])
    response = page(request, "dashboards/project.html", context)
    # A shared link should not leak where it came from nor be indexed.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- experiment -------------------------------------------------------------------------


def metric_value(value: Any) -> float | None:
    """A stored metric as a number to plot, or None: not a number, not finite, or an
    integer beyond any float (JSON holds 10**400; PostgreSQL keeps it exact)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def numeric_metrics(runs: list[Run]) -> list[str]:
    """Names of metrics that are numbers in at least one run, most common first."""
    counts: dict[str, int] = {}
    for run in runs:
        metrics = run.metrics if isinstance(run.metrics, dict) else {}
        for name, value in metrics.items():
            if metric_value(value) is not None:
                counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda n: (-counts[n], n))


@login_required
@require_GET
def experiment_page(request: HttpRequest, org_id: str, experiment_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    experiment = access.experiment(experiment_id)
    all_runs = Run.objects.filter(experiment=experiment)
    totals = queries.run_totals(all_runs)
    by_status = {
        row["status"]: float(row["kg"] or 0.0)
        for row in all_runs.order_by().values("status").annotate(kg=Sum("emissions_kg"))
    }
    runs = list(all_runs.select_related("factor").order_by("-started_at")[:MAX_EXPERIMENT_RUNS])
    metrics = numeric_metrics(runs)
    metric = request.GET.get("metric", "")
    if metric not in metrics:
        metric = next((m for m in metrics if "acc" in m.lower()), metrics[0] if metrics else "")
    goal = request.GET.get("goal", "")
    maximise = (
        goal == "max"
        if goal in ("max", "min")
        else not any(w in metric.lower() for w in LOWER_IS_BETTER)
    )
    points = []
    for run in runs:
        value = metric_value(run.metrics.get(metric) if isinstance(run.metrics, dict) else None)
        if value is not None:
            points.append(
                {
                    "name": str(run),
                    "emissions_kg": run.emissions_kg,
                    "value": value,
                    "status": run.status,
                    "url": reverse("dash:run", args=[access.org.uuid, run.uuid]),
                }
            )
    front = {p["url"] for p in charts.pareto_front(points, maximise)}
    figures = figure_ids(
        {
            "pareto": charts.metric_vs_emissions(points, metric, maximise),
            "status": charts.emissions_by_status(by_status),
        }
    )
    return page(
        request,
        "dashboards/experiment.html",
        {
            "access": access,
            "org": access.org,
            "project": experiment.project,
            "experiment": experiment,
            "totals": totals,
            "by_status": sorted(by_status.items(), key=lambda kv: -kv[1]),
            "runs": runs,
            "run_limit": MAX_EXPERIMENT_RUNS,
            "metrics": metrics,
            "metric": metric,
            "maximise": maximise,
            "frontier": front,
            "figures": figures,
        },
    )


# --- run --------------------------------------------------------------------------------


def run_figures(run: Run) -> dict[str, charts.Figure]:
    series = queries.run_series(run)
    return {
        "power": charts.run_power(series),
        "ranks": charts.rank_power(series),
        "cumulative": charts.run_cumulative(series),
        "components": charts.components(
            {"cpu": run.cpu_energy_kwh, "gpu": run.gpu_energy_kwh, "ram": run.ram_energy_kwh}
        ),
    }


def run_numbers(run: Run) -> dict[str, str]:
    """The run's headline numbers, formatted; the live JSON sends the same strings."""
    return {
        "energy": formatting.energy(run.energy_kwh),
        "facility_energy": formatting.energy(run.energy_kwh * run.pue),
        "emissions": formatting.mass(run.emissions_kg),
        "gpu_hours": f"{formatting.number(run.gpu_hours)} GPU-h",
        "duration": formatting.duration(run.wall_duration_s),
        "measurements": f"{run.measurement_count:,}",
        "measured_share": formatting.percent(
            run.measured_energy_kwh / run.energy_kwh if run.energy_kwh else None
        ),
        "status": run.get_status_display(),
    }


def run_method_rows(run: Run) -> list[dict[str, str]]:
    """The rows of "How each component was measured", formatted; the live JSON sends the
    same strings, so the page and its updates read alike."""
    names = dict(METHOD_CHOICES)
    return [
        {
            "component": m["component"].upper(),
            "method": m["method"],
            "label": str(names.get(m["method"], m["method"])),
            "energy": formatting.energy(m["energy_kwh"]),
            "intervals": f"{m['intervals']:,}",
        }
        for m in queries.run_methods(run)
    ]


@login_required
@require_GET
def run_page(request: HttpRequest, org_id: str, run_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    run = access.run(run_id)
    methods = run_method_rows(run)
    return page(
        request,
        "dashboards/run.html",
        {
            "access": access,
            "org": access.org,
            "project": run.project,
            "run": run,
            "numbers": run_numbers(run),
            "figures": figure_ids(run_figures(run)),
            "methods": methods,
            "live": run.status == RunStatus.RUNNING,
            "live_url": reverse("dash:run-live", args=[access.org.uuid, run.uuid]),
            "poll_ms": LIVE_POLL_S * 1000,
            "poll_s": LIVE_POLL_S,
            "equivalents": equivalents_of(run.emissions_kg, run.factor.g_per_kwh),
        },
    )


@login_required
@require_GET
def run_live(request: HttpRequest, org_id: str, run_id: str) -> JsonResponse:
    """What the run page redraws while the run is running: status, totals, how each
    component was measured, and figures."""
    access = org_access(request, org_id)
    run = access.run(run_id)
    return JsonResponse(
        {
            "status": run.status,
            "running": run.status == RunStatus.RUNNING,
            "last_seen_at": run.last_seen_at.isoformat(),
            "measurement_count": run.measurement_count,
            "numbers": run_numbers(run),
            "methods": run_method_rows(run),
            "figures": {f"fig-{k}": v for k, v in run_figures(run).items()},
        }
    )


@login_required
@require_GET
def run_redirect(request: HttpRequest, run_id: str) -> HttpResponse:
    """``/runs/<uuid>/``, the URL the API gives for a run, leads to its page."""
    run = get_or_404(
        Run.objects.visible_to(Project.objects.for_user(request.user)).select_related(
            "project__organisation"
        ),
        run_id,
        message="No such run among your organisations.",
    )
    return redirect("dash:run", org_id=run.project.organisation.uuid, run_id=run.uuid)


# --- assets -----------------------------------------------------------------------------


@require_GET
def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.js from the installed plotly package, so pages never need a CDN.

    Versioned by the package version in the URL, so browsers may cache it for a year.
    """
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
