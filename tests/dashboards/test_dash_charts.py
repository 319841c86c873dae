from __future__ import annotations

from datetime import UTC, datetime

import carbon
from dashboards import charts, formatting


def test_the_pareto_front_keeps_runs_nobody_beats() -> None:
    points = [
        {"name": "a", "emissions_kg": 1.0, "value": 0.80},
        {"name": "b", "emissions_kg": 2.0, "value": 0.70},  # worse and dirtier than a
        {"name": "c", "emissions_kg": 3.0, "value": 0.90},
        {"name": "d", "emissions_kg": 0.5, "value": 0.60},
    ]
    assert [p["name"] for p in charts.pareto_front(points)] == ["d", "a", "c"]
    assert [p["name"] for p in charts.pareto_front(points, maximise=False)] == ["d"]


def test_a_figure_without_rows_has_no_data() -> None:
    assert charts.emissions_over_time([])["data"] == []
    assert charts.run_power({"points": []})["data"] == []
    assert charts.energy_methods(0, 0, 0)["data"] == []


def test_emissions_over_time_stacks_by_group_with_units() -> None:
    t = datetime(2026, 1, 5, tzinfo=UTC)
    rows = [
        {"t": t, "emissions_kg": 1500.0, "energy_kwh": 3000.0, "project__name": "vision"},
        {"t": t, "emissions_kg": 500.0, "energy_kwh": 900.0, "project__name": "nlp"},
    ]
    fig = charts.emissions_over_time(rows, by="project__name", bucket="week")
    assert {tr["name"] for tr in fig["data"]} == {"vision", "nlp"}
    assert fig["layout"]["barmode"] == "stack"
    assert "t CO2e" in fig["layout"]["yaxis"]["title"]["text"]
    assert sum(tr["y"][0] for tr in fig["data"]) == 2.0


def test_the_country_chart_marks_the_actual_emissions() -> None:
    alternatives = carbon.what_if(100.0)
    fig = charts.what_if_countries(alternatives, actual_kg=20.0)
    bars, line = fig["data"]
    assert len(bars["x"]) == len([a for a in alternatives if a.kind == "country"])
    assert line["y"][0] == line["y"][1]


def test_the_world_map_colours_countries_by_emissions_in_the_page_unit() -> None:
    alternatives = carbon.what_if(100.0)
    countries = [a for a in alternatives if a.kind == "country"]
    fig = charts.what_if_map(alternatives, actual_kg=20.0)
    (trace,) = fig["data"]
    assert trace["type"] == "choropleth"
    assert trace["locationmode"] == "ISO-3"
    assert trace["locations"] == [a.zone for a in countries]
    assert all(len(code) == 3 for code in trace["locations"])
    assert trace["text"] == [a.label for a in countries]
    assert trace["customdata"] == [a.g_per_kwh for a in countries]
    # Same unit as the sorted bar chart, named on the colour bar and in the hover.
    divisor, unit = formatting.mass_scale(max([a.emissions_kg for a in countries] + [20.0]))
    assert trace["z"] == [a.emissions_kg / divisor for a in countries]
    assert trace["colorbar"]["title"]["text"] == f"Emissions ({unit})"
    bars = charts.what_if_countries(alternatives, actual_kg=20.0)
    assert unit in bars["layout"]["yaxis"]["title"]["text"]
    assert "g CO2e/kWh" in trace["hovertemplate"] and unit in trace["hovertemplate"]
    assert "%{text}" in trace["hovertemplate"]
    assert fig["layout"]["geo"]["scope"] == "world"
    assert fig["layout"]["geo"]["resolution"] == 110  # the outlines shipped: world_110m
    assert charts.what_if_map([], 0.0)["data"] == []


def test_numbers_carry_their_units() -> None:
    assert formatting.energy(1234.0) == "1.23 MWh"
    assert formatting.energy(0.5) == "0.5 kWh"
    assert formatting.mass(2500.0) == "2.50 t CO2e"
    assert formatting.mass(0.25) == "250 g CO2e"
    assert formatting.mass(12.0) == "12.0 kg CO2e"
    assert formatting.duration(3725) == "1 h 2 min"
    assert formatting.change(110, 100)["direction"] == "up"
    assert formatting.change(0, 0)["text"] == "no change"


def _series(powers: list[float], width: float = 60.0, t0: float = 1_750_000_000.0) -> dict:
    """A run series as ``api.queries.run_series`` gives it, GPU power only."""
    points, cum = [], 0.0
    for i, w in enumerate(powers):
        cum += w * width / 3_600_000.0
        points.append(
            {
                "t": t0 + i * width,
                "t_end": t0 + (i + 1) * width,
                "cpu_power_w": 0.0,
                "gpu_power_w": w,
                "ram_power_w": 0.0,
                "power_w": w,
                "energy_kwh_cum": cum,
                "emissions_kg_cum": cum * 0.05,
            }
        )
    return {"bucket_s": width, "points": points, "ranks": {}}


def _area_kwh(trace: dict) -> float:
    xs = [datetime.fromisoformat(x).timestamp() for x in trace["x"]]
    return sum(trace["y"][i] * (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)) / 3_600_000.0


def test_power_is_drawn_in_steps_whose_area_is_the_energy() -> None:
    series = _series([1000.0, 0.0, 0.0, 500.0])
    (trace,) = charts.run_power(series)["data"]
    assert trace["line"]["shape"] == "hv"
    # Each bucket's start, then the end of the last bucket, which closes its step.
    assert len(trace["x"]) == 5
    assert trace["x"][-1] == datetime.fromtimestamp(1_750_000_240.0, UTC).isoformat()
    assert trace["y"] == [1000.0, 0.0, 0.0, 500.0, 500.0]
    assert _area_kwh(trace) == 1500.0 * 60 / 3_600_000.0
    assert "per 60 s" in charts.run_power(series)["layout"]["yaxis"]["title"]["text"]


def test_rank_power_is_drawn_in_steps_too() -> None:
    series = _series([100.0, 300.0])
    series["ranks"] = {
        f"node/rank {r}": [
            {"t": p["t"], "t_end": p["t_end"], "power_w": p["power_w"] / 2}
            for p in series["points"]
        ]
        for r in (0, 1)
    }
    traces = charts.rank_power(series)["data"]
    assert [t["line"]["shape"] for t in traces] == ["hv", "hv"]
    assert sum(_area_kwh(t) for t in traces) == (400.0 * 60) / 3_600_000.0


def test_the_cumulative_line_runs_from_zero_at_the_start_to_the_totals_at_the_end() -> None:
    series = _series([1000.0, 1000.0])
    energy, emissions = charts.run_cumulative(series)["data"]
    assert energy["x"][0] == datetime.fromtimestamp(1_750_000_000.0, UTC).isoformat()
    assert energy["x"][-1] == datetime.fromtimestamp(1_750_000_120.0, UTC).isoformat()
    assert energy["y"][0] == 0.0 and emissions["y"][0] == 0.0
    assert energy["y"][-1] == series["points"][-1]["energy_kwh_cum"]


def test_a_period_of_zero_buckets_only_has_no_emissions_figure() -> None:
    t = datetime(2026, 1, 5, tzinfo=UTC)
    rows = [{"t": t, "emissions_kg": 0.0, "energy_kwh": 0.0, "zone": "FRA"}]
    assert charts.emissions_over_time(rows, by="zone")["data"] == []
