"""Plotly figures of the dashboards, as plain dicts ready for ``Plotly.newPlot``.

Every function here is pure: it takes rows already read by ``api.queries`` (or carbon
objects) and returns ``{"data": [...], "layout": {...}}``. Plain dicts rather than
``plotly.graph_objects`` because building and validating graph objects costs tens of
milliseconds per figure, which the page budget cannot afford; the shapes are the same.
A figure without data has an empty ``data`` list, which templates show as "no data".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dashboards.formatting import duration, energy_scale, mass_scale

Figure = dict[str, Any]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
COMPONENT_COLOURS = {"cpu": "#0072B2", "gpu": "#E69F00", "ram": "#009E73"}
COMPONENT_NAMES = {"cpu": "CPU", "gpu": "GPU", "ram": "RAM"}
# Groups beyond this many are summed into "other" so a stacked chart stays readable.
MAX_STACKS = 8
# Axis labels longer than this are shortened (the hover shows them whole), so that a long
# zone name does not squeeze the bars out of a phone-width chart.
MAX_LABEL = 22
BUCKET_MS = {"hour": 3_600_000, "day": 86_400_000, "week": 7 * 86_400_000, "month": 30 * 86_400_000}
TICK_FORMAT = {"hour": "%d %b %H:%M", "day": "%d %b", "week": "%d %b", "month": "%b %Y"}


def _layout(**over: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        # Legends above the plot: below it they collide with the x-axis title.
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "colorway": PALETTE,
        "hoverlabel": {"namelength": -1},
        "height": 320,
    }
    layout.update(over)
    return layout


def short(label: str) -> str:
    """A label cut to ``MAX_LABEL`` characters for an axis."""
    return (
        label
        if len(label) <= MAX_LABEL
        else label[: MAX_LABEL - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"
    )


def _empty() -> Figure:
    return {"data": [], "layout": _layout()}


def _iso(moment: datetime | float) -> str:
    """ISO 8601 of a time or POSIX timestamp; one past the years 1-9999 (the end of a
    bucket after a run stored as ending in 9999) is drawn at the nearest of them."""
    if isinstance(moment, int | float):
        seconds = moment
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            moment = (datetime.max if seconds > 0 else datetime.min).replace(tzinfo=UTC)
    return moment.isoformat()


def emissions_over_time(
    rows: Sequence[Mapping[str, Any]],
    by: str | None = None,
    bucket: str = "day",
    span: tuple[datetime, datetime] | None = None,
) -> Figure:
    """Stacked bars of emissions per time bucket, one stack per value of ``by``.

    ``rows`` come from ``api.queries.usage_series``; the largest groups get their own
    colour and the rest are summed as "other". ``span`` fixes the time axis to the whole
    period, so a quiet start or end of the period shows as such. Rows hold every bucket of
    the period (zeros included), so each bar is one bucket's total; a period without any
    emissions has no figure, which the page shows as "no data".
    """
    if not any(r["emissions_kg"] > 0 or r["energy_kwh"] > 0 for r in rows):
        return _empty()
    divisor, unit = mass_scale(max(r["emissions_kg"] for r in rows) or 0.0)
    totals: dict[str, float] = {}
    for r in rows:
        key = str(r.get(by) or "unknown") if by else "emissions"
        totals[key] = totals.get(key, 0.0) + r["emissions_kg"]
    keep = [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:MAX_STACKS]]
    series: dict[str, dict[str, float]] = {k: {} for k in keep}
    energy_by_t: dict[str, float] = {}
    for r in rows:
        key = str(r.get(by) or "unknown") if by else "emissions"
        key = key if key in series else "other"
        t = _iso(r["t"])
        series.setdefault(key, {})
        series[key][t] = series[key].get(t, 0.0) + r["emissions_kg"] / divisor
        energy_by_t[t] = energy_by_t.get(t, 0.0) + r["energy_kwh"]
    data = []
    for name, points in series.items():
        xs = sorted(points)
        data.append(
            {
                "type": "bar",
                "name": name,
                "x": xs,
                "y": [points[x] for x in xs],
                "hovertemplate": f"%{{y:.3~g}} {unit}<extra>{name}</extra>",
                # Explicit width (ms): a lone bar would otherwise fill the whole axis.
                "width": BUCKET_MS.get(bucket, BUCKET_MS["day"]) * 0.8,
                "xperiod": BUCKET_MS.get(bucket, BUCKET_MS["day"]) if bucket != "month" else "M1",
                "xperiodalignment": "start",
            }
        )
    period = {"day": "Day", "week": "Week starting", "month": "Month"}.get(bucket, bucket)
    xaxis: dict[str, Any] = {
        "title": {"text": f"{period} (UTC)"},
        "type": "date",
        "tickformat": TICK_FORMAT.get(bucket, "%d %b"),
    }
    if span is not None:
        xaxis["range"] = [_iso(span[0]), _iso(span[1])]
    return {
        "data": data,
        "layout": _layout(
            barmode="stack",
            xaxis=xaxis,
            yaxis={"title": {"text": f"Emissions ({unit})"}, "rangemode": "tozero"},
            hovermode="x unified",
            showlegend=bool(by),
        ),
    }


def breakdown_bar(
    rows: Sequence[Mapping[str, Any]], key: str, labels: Mapping[str, str] | None = None
) -> Figure:
    """Horizontal bars of emissions per group (zone, provider, project), largest on top;
    the hover shows the energy too."""
    rows = [r for r in rows if r["emissions_kg"] > 0 or r["energy_kwh"] > 0]
    if not rows:
        return _empty()
    labels = labels or {}
    ordered = sorted(rows, key=lambda r: r["emissions_kg"])
    divisor, unit = mass_scale(max(r["emissions_kg"] for r in rows))
    e_div, e_unit = energy_scale(max(r["energy_kwh"] for r in rows))
    names = [labels.get(str(r[key]), str(r[key] or "unknown")) for r in ordered]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [short(n) for n in names],
                "x": [r["emissions_kg"] / divisor for r in ordered],
                "text": names,
                "textposition": "none",
                "customdata": [r["energy_kwh"] / e_div for r in ordered],
                "marker": {"color": PALETTE[0]},
                "hovertemplate": f"%{{text}}<br>%{{x:.3~g}} {unit}<br>%{{customdata:.3~g}} {e_unit}<extra></extra>",
            }
        ],
        "layout": _layout(
            height=max(160, 40 + 28 * len(ordered)),
            margin={"l": 10, "r": 20, "t": 10, "b": 45},
            xaxis={"title": {"text": f"Emissions ({unit})"}, "rangemode": "tozero"},
            yaxis={"automargin": True},
        ),
    }


def energy_methods(measured_kwh: float, imported_kwh: float, estimated_kwh: float) -> Figure:
    """Donut of how the energy was obtained: measured by counters, imported, or modelled."""
    parts = [
        ("Measured (RAPL, NVML)", measured_kwh, "#009E73"),
        ("Imported from files", imported_kwh, "#56B4E9"),
        ("Estimated (TDP or constant model)", estimated_kwh, "#E69F00"),
    ]
    parts = [p for p in parts if p[1] > 0]
    if not parts:
        return _empty()
    divisor, unit = energy_scale(max(p[1] for p in parts))
    return {
        "data": [
            {
                "type": "pie",
                "hole": 0.55,
                "labels": [p[0] for p in parts],
                "values": [p[1] / divisor for p in parts],
                "marker": {"colors": [p[2] for p in parts]},
                "sort": False,
                "textinfo": "percent",
                "hovertemplate": f"%{{label}}<br>%{{value:.3~g}} {unit} (%{{percent}})<extra></extra>",
            }
        ],
        "layout": _layout(
            height=280,
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
            legend={"orientation": "h", "x": 0, "y": -0.05, "yanchor": "top"},
        ),
    }


def _bucket_label(seconds: float) -> str:
    """A bucket length as people read it: ``7.35 s``, ``60 s``, ``2 min 30 s``."""
    return f"{seconds:.3g} s" if seconds < 120 else duration(seconds)


def _steps(series: Mapping[str, Any], points: Sequence[Mapping[str, Any]]) -> list[str]:
    """The x values of a stepped power trace: each bucket's start, then the last one's end.

    Drawn with ``line.shape`` "hv", a bucket's average power holds from its start to the
    next bucket's start, so the area under the line as drawn is the energy; the final x
    closes the last bucket (its y repeats the last value, which adds no area).
    """
    width = float(series.get("bucket_s") or 0.0)
    last = points[-1]
    return [_iso(p["t"]) for p in points] + [_iso(last.get("t_end", last["t"] + width))]


def run_power(series: Mapping[str, Any]) -> Figure:
    """Power per component over a run, stacked so the top line is the total draw.

    Each bucket's average power is drawn as a flat step over the bucket (never a line
    joining bucket averages), so the area under the stack is the run's IT energy.
    """
    points = series.get("points") or []
    if not points:
        return _empty()
    xs = _steps(series, points)
    data = []
    for comp in ("gpu", "cpu", "ram"):
        ys = [p[f"{comp}_power_w"] for p in points]
        if not any(ys):
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": COMPONENT_NAMES[comp],
                "x": xs,
                "y": [*ys, ys[-1]],
                "stackgroup": "power",
                "line": {"color": COMPONENT_COLOURS[comp], "width": 1.5, "shape": "hv"},
                "hovertemplate": f"%{{y:.4~g}} W<extra>{COMPONENT_NAMES[comp]}</extra>",
            }
        )
    every = _bucket_label(float(series.get("bucket_s") or 0.0))
    return {
        "data": data,
        "layout": _layout(
            xaxis={"title": {"text": "Time (UTC)"}, "type": "date"},
            yaxis={
                "title": {"text": f"Average power per {every} (W)"},
                "rangemode": "tozero",
            },
            hovermode="x unified",
        ),
    }


def rank_power(series: Mapping[str, Any]) -> Figure:
    """Power per node and rank, when the run has several, drawn as steps like
    :func:`run_power`."""
    ranks = series.get("ranks") or {}
    if not ranks:
        return _empty()
    data = []
    for label, points in sorted(ranks.items()):
        if not points:
            continue
        ys = [p["power_w"] for p in points]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": label,
                "x": _steps(series, points),
                "y": [*ys, ys[-1]],
                "line": {"shape": "hv"},
                "hovertemplate": f"%{{y:.4~g}} W<extra>{label}</extra>",
            }
        )
    every = _bucket_label(float(series.get("bucket_s") or 0.0))
    return {
        "data": data,
        "layout": _layout(
            xaxis={"title": {"text": "Time (UTC)"}, "type": "date"},
            yaxis={
                "title": {"text": f"Power, all components, per {every} (W)"},
                "rangemode": "tozero",
            },
            hovermode="x unified",
        ),
    }


def run_cumulative(series: Mapping[str, Any]) -> Figure:
    """Cumulative IT energy (left axis) and emissions (right axis) over a run.

    ``series`` is the whole run's (``run_series`` without ``since``): each total is drawn
    at the end of its bucket, from zero at the run's start, so the line reaches the run's
    totals where the run ends.
    """
    points = series.get("points") or []
    if not points:
        return _empty()
    width = float(series.get("bucket_s") or 0.0)
    xs = [_iso(points[0]["t"])] + [_iso(p.get("t_end", p["t"] + width)) for p in points]
    e_div, e_unit = energy_scale(points[-1]["energy_kwh_cum"])
    m_div, m_unit = mass_scale(points[-1]["emissions_kg_cum"])
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"Energy ({e_unit})",
                "x": xs,
                "y": [0.0] + [p["energy_kwh_cum"] / e_div for p in points],
                "line": {"color": PALETTE[0], "width": 2},
                "hovertemplate": f"%{{y:.4~g}} {e_unit}<extra>Energy</extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"Emissions ({m_unit})",
                "x": xs,
                "y": [0.0] + [p["emissions_kg_cum"] / m_div for p in points],
                "yaxis": "y2",
                "line": {"color": PALETTE[5], "width": 2, "dash": "dot"},
                "hovertemplate": f"%{{y:.4~g}} {m_unit}<extra>Emissions</extra>",
            },
        ],
        "layout": _layout(
            xaxis={"title": {"text": "Time (UTC)"}, "type": "date"},
            yaxis={"title": {"text": f"IT energy ({e_unit})"}, "rangemode": "tozero"},
            yaxis2={
                "title": {"text": f"Emissions ({m_unit})"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            },
            margin={"l": 60, "r": 60, "t": 30, "b": 50},
            hovermode="x unified",
        ),
    }


def components(energies: Mapping[str, float]) -> Figure:
    """Bars of IT energy per component (keys ``cpu``, ``gpu``, ``ram``, in kWh)."""
    present = [(c, energies.get(c, 0.0)) for c in ("gpu", "cpu", "ram") if energies.get(c, 0.0) > 0]
    if not present:
        return _empty()
    divisor, unit = energy_scale(max(v for _, v in present))
    return {
        "data": [
            {
                "type": "bar",
                "x": [COMPONENT_NAMES[c] for c, _ in present],
                "y": [v / divisor for _, v in present],
                "marker": {"color": [COMPONENT_COLOURS[c] for c, _ in present]},
                "hovertemplate": f"%{{x}}: %{{y:.4~g}} {unit}<extra></extra>",
            }
        ],
        "layout": _layout(
            height=260,
            yaxis={"title": {"text": f"IT energy ({unit})"}, "rangemode": "tozero"},
            margin={"l": 60, "r": 10, "t": 10, "b": 30},
        ),
    }


def pareto_front(
    points: Sequence[Mapping[str, Any]], maximise: bool = True
) -> list[Mapping[str, Any]]:
    """The runs no other run beats on both emissions (lower) and the metric, in order of
    emissions. Each point has ``emissions_kg`` and ``value``."""
    front: list[Mapping[str, Any]] = []
    best: float | None = None
    for p in sorted(
        points, key=lambda p: (p["emissions_kg"], -p["value"] if maximise else p["value"])
    ):
        better = best is None or (p["value"] > best if maximise else p["value"] < best)
        if better:
            front.append(p)
            best = p["value"]
    return front


def metric_vs_emissions(
    points: Sequence[Mapping[str, Any]], metric: str, maximise: bool = True
) -> Figure:
    """Scatter of a metric against emissions per run, with the efficient frontier joined.

    Each point: ``name``, ``emissions_kg``, ``value``, ``status``, ``url``.
    """
    if not points:
        return _empty()
    divisor, unit = mass_scale(max(p["emissions_kg"] for p in points))
    front = pareto_front(points, maximise)
    front_ids = {id(p) for p in front}
    others = [p for p in points if id(p) not in front_ids]

    def trace(rows: Iterable[Mapping[str, Any]], name: str, **style: Any) -> dict[str, Any]:
        rows = list(rows)
        return {
            "type": "scatter",
            "name": name,
            "x": [r["emissions_kg"] / divisor for r in rows],
            "y": [r["value"] for r in rows],
            "text": [f"{r['name']} ({r['status']})" for r in rows],
            "customdata": [r["url"] for r in rows],
            "hovertemplate": f"%{{text}}<br>%{{x:.3~g}} {unit}<br>{metric} %{{y:.4~g}}<extra></extra>",
            **style,
        }

    data = [
        trace(
            others, "Runs", mode="markers", marker={"color": PALETTE[4], "size": 9, "opacity": 0.8}
        ),
        trace(
            front,
            "Efficient frontier",
            mode="lines+markers",
            marker={"color": PALETTE[5], "size": 11, "symbol": "diamond"},
            line={"color": PALETTE[5], "shape": "hv"},
        ),
    ]
    better = "higher" if maximise else "lower"
    return {
        "data": data,
        "layout": _layout(
            xaxis={"title": {"text": f"Emissions ({unit})"}, "rangemode": "tozero"},
            yaxis={"title": {"text": f"{metric} ({better} is better)"}},
            hovermode="closest",
        ),
    }


def what_if_countries(alternatives: Sequence[Any], actual_kg: float) -> Figure:
    """What the same energy would have emitted in each country, cleanest first, with the
    actual emissions as a line: the ranking the world map (``what_if_map``) cannot show,
    and every country, including those too small for the map's outlines.
    """
    rows = [a for a in alternatives if a.kind == "country"]
    if not rows:
        return _empty()
    divisor, unit = mass_scale(max([a.emissions_kg for a in rows] + [actual_kg]))
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "Same energy in this country",
            "x": [a.zone for a in rows],
            "y": [a.emissions_kg / divisor for a in rows],
            "text": [a.label for a in rows],
            "customdata": [a.g_per_kwh for a in rows],
            "marker": {
                "color": [PALETTE[2] if a.emissions_kg < actual_kg else PALETTE[5] for a in rows]
            },
            "hovertemplate": f"%{{text}} (%{{x}})<br>%{{y:.3~g}} {unit}<br>%{{customdata:.0f}} g CO2e/kWh<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Actual emissions",
            "x": [rows[0].zone, rows[-1].zone],
            "y": [actual_kg / divisor, actual_kg / divisor],
            "line": {"color": "#000000", "dash": "dash", "width": 2},
            "hovertemplate": f"Actual: %{{y:.3~g}} {unit}<extra></extra>",
        },
    ]
    return {
        "data": data,
        "layout": _layout(
            xaxis={
                "title": {"text": "Country (ISO 3166 alpha-3), cleanest grid first"},
                "tickfont": {"size": 8},
            },
            yaxis={"title": {"text": f"Emissions ({unit})"}, "rangemode": "tozero"},
            bargap=0.15,
            hovermode="closest",
        ),
    }


# ColorBrewer YlOrRd, light to dark: lightness falls monotonically, so the order reads
# with the common colour-vision deficiencies and in greyscale.
EMISSIONS_SCALE = [
    [0.0, "#ffffcc"],
    [0.17, "#ffeda0"],
    [0.33, "#fed976"],
    [0.5, "#feb24c"],
    [0.67, "#fd8d3c"],
    [0.83, "#e31a1c"],
    [1.0, "#800026"],
]
# Land without a value (a country the factor dataset lacks) is drawn in this grey.
NO_DATA_GREY = "#d0d0d0"


def what_if_map(alternatives: Sequence[Any], actual_kg: float) -> Figure:
    """World map (choropleth) of what the same energy would have emitted in each country.

    Countries are matched on their ISO 3166-1 alpha-3 code (``locationmode`` "ISO-3"); the
    colour is the emissions, in the same unit as ``what_if_countries``. plotly.js draws
    the outlines from a topojson file it fetches at ``topojsonURL`` (the page points it at
    the hub's static files); codes the outlines lack are simply not drawn.
    """
    rows = [a for a in alternatives if a.kind == "country"]
    if not rows:
        return _empty()
    divisor, unit = mass_scale(max([a.emissions_kg for a in rows] + [actual_kg]))
    layout = _layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 70},
        geo={
            "scope": "world",
            "resolution": 110,
            "projection": {"type": "natural earth"},
            "lataxis": {"range": [-58, 85]},
            "showframe": False,
            "showcoastlines": False,
            "showland": True,
            "landcolor": NO_DATA_GREY,
            "showcountries": True,
            "countrycolor": "#ffffff",
            "countrywidth": 0.4,
            "showlakes": False,
            "bgcolor": "rgba(0,0,0,0)",
        },
    )
    # No fixed height: the page sizes the map's box from its width (hub.css).
    del layout["height"]
    return {
        "data": [
            {
                "type": "choropleth",
                "name": "Same energy in this country",
                "locationmode": "ISO-3",
                "locations": [a.zone for a in rows],
                "z": [a.emissions_kg / divisor for a in rows],
                "zmin": 0,
                "text": [a.label for a in rows],
                "customdata": [a.g_per_kwh for a in rows],
                "colorscale": EMISSIONS_SCALE,
                "marker": {"line": {"color": "#ffffff", "width": 0.4}},
                "colorbar": {
                    "title": {"text": f"Emissions ({unit})", "side": "top"},
                    "orientation": "h",
                    "x": 0.5,
                    "xanchor": "center",
                    "y": 0,
                    "yanchor": "top",
                    "len": 0.8,
                    "thickness": 12,
                    "outlinewidth": 0,
                },
                "hovertemplate": (
                    "%{text} (%{location})<br>%{customdata:.0f} g CO2e/kWh"
                    f"<br>%{{z:.3~g}} {unit}<extra></extra>"
                ),
            }
        ],
        "layout": layout,
    }


def grid_mix(mixes: Sequence[Any], labels: Mapping[str, str] | None = None) -> Figure:
    """Stacked horizontal bars of fossil, nuclear and renewable shares per zone."""
    if not mixes:
        return _empty()
    labels = labels or {}
    names = [short(labels.get(m.zone, m.zone)) for m in mixes]
    parts = [
        ("Fossil", "fossil_pct", "#6B6B6B"),
        ("Nuclear", "nuclear_pct", "#CC79A7"),
        ("Renewable", "renewable_pct", "#009E73"),
    ]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": name,
                "y": names,
                "x": [getattr(m, attr) for m in mixes],
                "marker": {"color": colour},
                "hovertemplate": f"%{{y}}: %{{x:.1f}} % {name.lower()}<extra></extra>",
            }
            for name, attr, colour in parts
        ],
        "layout": _layout(
            barmode="stack",
            height=max(170, 100 + 30 * len(mixes)),
            margin={"l": 10, "r": 20, "t": 30, "b": 40},
            xaxis={"title": {"text": "Share of generation (%)"}, "range": [0, 100]},
            yaxis={"automargin": True},
        ),
    }


def emissions_by_status(by_status: Mapping[str, float]) -> Figure:
    """Bars of an experiment's emissions per run status (failed and lost runs count too)."""
    rows = [(s, v) for s, v in by_status.items() if v > 0]
    if not rows:
        return _empty()
    colours = {
        "finished": PALETTE[2],
        "running": PALETTE[0],
        "failed": PALETTE[5],
        "lost": "#6B6B6B",
    }
    divisor, unit = mass_scale(max(v for _, v in rows))
    return {
        "data": [
            {
                "type": "bar",
                "x": [s for s, _ in rows],
                "y": [v / divisor for _, v in rows],
                "marker": {"color": [colours.get(s, PALETTE[3]) for s, _ in rows]},
                "hovertemplate": f"%{{x}}: %{{y:.3~g}} {unit}<extra></extra>",
            }
        ],
        "layout": _layout(
            height=240,
            yaxis={"title": {"text": f"Emissions ({unit})"}, "rangemode": "tozero"},
            margin={"l": 60, "r": 10, "t": 10, "b": 30},
        ),
    }
