from __future__ import annotations

import pytest

from carbon import DEFAULT_LIFETIME_HOURS, sci


def test_it_computes_sci_from_operational_and_embodied_terms() -> None:
    # E x I = 100 kWh x 400 g = 40 kg; M = 1000 kg x (876 h / 35040 h) x 0.5 = 12.5 kg
    result = sci(
        energy_kwh=100,
        g_per_kwh=400,
        embodied_total_kg=1000,
        reserved_hours=876,
        lifetime_hours=35040,
        resource_share=0.5,
        functional_units=10,
    )
    assert result.operational_kg == pytest.approx(40.0)
    assert result.embodied_kg == pytest.approx(12.5)
    assert result.total_kg == pytest.approx(52.5)
    assert result.sci_kg == pytest.approx(5.25)


def test_it_defaults_to_operational_only_per_single_unit() -> None:
    result = sci(10, 56)
    assert result.embodied_kg == 0.0
    assert result.sci_kg == pytest.approx(0.56)


def test_it_uses_a_four_year_default_lifetime() -> None:
    assert DEFAULT_LIFETIME_HOURS == 35040
    result = sci(0, 0, embodied_total_kg=3504, reserved_hours=10)
    assert result.embodied_kg == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"energy_kwh": -1},
        {"functional_units": 0},
        {"resource_share": 0},
        {"resource_share": 1.5},
        {"lifetime_hours": 0},
        {"reserved_hours": 40000, "lifetime_hours": 35040},
        {"embodied_total_kg": float("nan")},
    ],
)
def test_it_rejects_invalid_sci_inputs(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"energy_kwh": 1, "g_per_kwh": 100, **kwargs}
    with pytest.raises(ValueError):
        sci(**args)
