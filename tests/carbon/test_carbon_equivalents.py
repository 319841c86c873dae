from __future__ import annotations

import pytest

from carbon import equivalent_constants, equivalents, get_dataset


def by_key(emissions: float, g_per_kwh: float | None = None) -> dict[str, float]:
    return {e.key: e.value for e in equivalents(emissions, g_per_kwh)}


def test_it_counts_household_weeks_from_the_epa_yearly_figure() -> None:
    # 8.35 t / 52 = 160.58 kg per household-week
    assert by_key(160.58)["household_weeks"] == pytest.approx(1.0)
    assert by_key(321.16)["household_weeks"] == pytest.approx(2.0)


def test_it_counts_car_miles_and_kilometres_at_400_g_per_mile() -> None:
    values = by_key(4.0)
    assert values["car_miles"] == pytest.approx(10.0)
    assert values["car_km"] == pytest.approx(10.0 * 1.609344, rel=1e-4)


def test_it_counts_flights_and_tree_months() -> None:
    values = by_key(570.0)
    assert values["flights_nyc_sf"] == pytest.approx(1.0)
    assert values["tree_months"] == pytest.approx(570.0 / 0.917)


def test_it_counts_tv_hours_with_the_given_grid_factor() -> None:
    # 1 kg = 1000 g; one hour of a 50 W TV at 500 g/kWh emits 25 g -> 40 hours
    assert by_key(1.0, 500)["tv_hours"] == pytest.approx(40.0)


def test_it_counts_tv_hours_at_the_world_average_without_a_grid_factor() -> None:
    world = get_dataset().factor("WORLD").g_per_kwh
    assert by_key(1.0)["tv_hours"] == pytest.approx(1000.0 / (0.05 * world))
    tv = next(e for e in equivalents(1.0) if e.key == "tv_hours")
    assert "world-average" in tv.explanation


def test_it_reports_infinite_tv_hours_on_a_zero_carbon_grid() -> None:
    assert by_key(1.0, 0)["tv_hours"] == float("inf")


def test_every_equivalent_names_its_source_year_and_explanation() -> None:
    results = equivalents(10.0, 300)
    assert {e.key for e in results} == {c.key for c in equivalent_constants()}
    for e in results:
        assert e.source and e.url.startswith("https://")
        assert 2000 <= e.year <= 2030
        assert e.label and e.unit and e.explanation


def test_it_rejects_negative_emissions() -> None:
    with pytest.raises(ValueError):
        equivalents(-1.0)
