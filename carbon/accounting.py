"""Energy and emissions arithmetic.

Everything is plain float arithmetic with no rounding: callers round only for display
(the hub shows kg to three significant figures), so sums of many measurements do not
accumulate rounding error.
"""

from __future__ import annotations

import math

MIN_PUE = 1.0
# Above 3 a PUE is almost certainly a unit mistake rather than a real facility.
MAX_PUE = 3.0


def check_non_negative(value: float, name: str) -> float:
    """Return ``value`` as a float if it is finite and >= 0, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def check_pue(pue: float) -> float:
    """Return ``pue`` as a float if it lies in [1.0, 3.0], else raise ValueError."""
    number = check_non_negative(pue, "pue")
    if not MIN_PUE <= number <= MAX_PUE:
        raise ValueError(f"pue must be between {MIN_PUE} and {MAX_PUE}, got {pue!r}")
    return number


def facility_energy_kwh(it_energy_kwh: float, pue: float) -> float:
    """Energy drawn by the facility: IT energy x PUE (cooling, power losses, ...)."""
    return check_non_negative(it_energy_kwh, "it_energy_kwh") * check_pue(pue)


def emissions_kg(energy_kwh: float, pue: float, g_per_kwh: float) -> float:
    """Emissions in kg CO2e = IT energy (kWh) x PUE x intensity (g/kWh) / 1000."""
    intensity = check_non_negative(g_per_kwh, "g_per_kwh")
    return facility_energy_kwh(energy_kwh, pue) * intensity / 1000.0


def emissions_sql(energy: str, pue: str, g_per_kwh: str) -> str:
    """:func:`emissions_kg` as an SQL expression of three SQL operands, for the emissions
    stored with each measurement (``api.ingest``) and re-applied factors
    (``api.aggregates``): the same products in the same order, so the floats agree."""
    return f"(({energy}) * ({pue}) * ({g_per_kwh}) / 1000.0)"
