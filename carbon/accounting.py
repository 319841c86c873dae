"""Energy and emissions arithmetic: the one emissions formula and the one set of PUE bounds.

Owns: ``MIN_PUE``/``MAX_PUE`` (what the hub accepts as a facility's PUE, used by the API
serializers, the project forms, the dashboards and the dataset loader), the checks of
inputs, facility energy (IT energy x PUE) and emissions (facility energy x g/kWh / 1000),
in Python (:func:`emissions_kg`, :func:`facility_emissions_kg`) and in SQL
(:func:`emissions_sql`). The PUE a foreign tool may have applied before the hub saw its
figures is another rule (``api.schema.MAX_SOURCE_PUE``).

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
    """Return ``pue`` as a float if it lies in [MIN_PUE, MAX_PUE], else raise ValueError."""
    number = check_non_negative(pue, "pue")
    if not MIN_PUE <= number <= MAX_PUE:
        raise ValueError(f"pue must be between {MIN_PUE} and {MAX_PUE}, got {pue!r}")
    return number


def facility_energy_kwh(it_energy_kwh: float, pue: float) -> float:
    """Energy drawn by the facility: IT energy x PUE (cooling, power losses, ...)."""
    return check_non_negative(it_energy_kwh, "it_energy_kwh") * check_pue(pue)


def facility_emissions_kg(facility_kwh: float, g_per_kwh: float) -> float:
    """kg CO2e of energy that already includes the facility's overhead (PUE):
    kWh x g/kWh / 1000. No checks: for figures already checked or derived from checked
    ones (market-based allocation, SCI, equivalents); :func:`emissions_kg` checks."""
    return facility_kwh * g_per_kwh / 1000.0


def emissions_kg(energy_kwh: float, pue: float, g_per_kwh: float) -> float:
    """Emissions in kg CO2e = IT energy (kWh) x PUE x intensity (g/kWh) / 1000."""
    intensity = check_non_negative(g_per_kwh, "g_per_kwh")
    return facility_emissions_kg(facility_energy_kwh(energy_kwh, pue), intensity)


def emissions_sql(energy: str, pue: str, g_per_kwh: str) -> str:
    """:func:`emissions_kg` as an SQL expression of three SQL operands, for the emissions
    stored with each measurement (``api.ingest``) and re-applied factors
    (``api.aggregates``): the same products in the same order, so the floats agree."""
    return f"(({energy}) * ({pue}) * ({g_per_kwh}) / 1000.0)"
