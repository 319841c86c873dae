from __future__ import annotations

import math

import pytest

from carbon import emissions_kg, facility_energy_kwh


def test_it_multiplies_energy_pue_and_intensity_into_kilograms() -> None:
    # 10 kWh x 1.2 x 56 g/kWh = 672 g
    assert emissions_kg(10, 1.2, 56) == pytest.approx(0.672)


def test_it_computes_facility_energy_as_it_energy_times_pue() -> None:
    assert facility_energy_kwh(10, 1.5) == pytest.approx(15.0)


def test_it_accepts_zero_energy_and_zero_intensity() -> None:
    assert emissions_kg(0, 1.0, 56) == 0.0
    assert emissions_kg(10, 1.0, 0) == 0.0


def test_it_accepts_the_pue_bounds() -> None:
    assert facility_energy_kwh(1, 1.0) == 1.0
    assert facility_energy_kwh(1, 3.0) == 3.0


@pytest.mark.parametrize("energy", [-1.0, math.nan, math.inf])
def test_it_rejects_negative_or_non_finite_energy(energy: float) -> None:
    with pytest.raises(ValueError, match="energy"):
        emissions_kg(energy, 1.2, 56)


@pytest.mark.parametrize("pue", [0.99, 3.01, math.nan, -1.0])
def test_it_rejects_a_pue_outside_one_to_three(pue: float) -> None:
    with pytest.raises(ValueError, match="pue"):
        facility_energy_kwh(10, pue)


@pytest.mark.parametrize("intensity", [-0.1, math.inf])
def test_it_rejects_a_negative_or_infinite_intensity(intensity: float) -> None:
    with pytest.raises(ValueError, match="g_per_kwh"):
        emissions_kg(10, 1.2, intensity)


def test_it_rejects_booleans_and_strings_as_numbers() -> None:
    with pytest.raises(ValueError):
        emissions_kg(True, 1.2, 56)
    with pytest.raises(ValueError):
        emissions_kg("10", 1.2, 56)  # type: ignore[arg-type]
