"""Software Carbon Intensity (ISO/IEC 21031:2024).

SCI = (E x I + M) / R, where E is energy (kWh), I the location-based intensity
(g CO2e/kWh), M the embodied emissions attributed to the job and R the number of
functional units (one training run, a thousand inferences, ...).

M = total embodied x (time reserved / expected lifetime) x (share of the resources
reserved). E x I is the hub's one emissions formula,
:func:`carbon.accounting.facility_emissions_kg`.
"""

from __future__ import annotations

from dataclasses import dataclass

from carbon.accounting import check_non_negative, facility_emissions_kg

# Four years is the lifetime the SCI guidance suggests for servers when none is known.
DEFAULT_LIFETIME_HOURS = 4 * 365 * 24


@dataclass(frozen=True)
class SciResult:
    """SCI terms in kg CO2e; ``sci_kg`` is per functional unit."""

    operational_kg: float
    embodied_kg: float
    total_kg: float
    functional_units: float
    sci_kg: float


def sci(
    energy_kwh: float,
    g_per_kwh: float,
    embodied_total_kg: float = 0.0,
    reserved_hours: float = 0.0,
    lifetime_hours: float = DEFAULT_LIFETIME_HOURS,
    resource_share: float = 1.0,
    functional_units: float = 1,
) -> SciResult:
    """Compute the SCI score of a job.

    ``energy_kwh`` should already include PUE if the facility overhead is in scope.
    Raises ValueError for negative or non-finite inputs, a lifetime <= 0, reserved time
    beyond the lifetime, a resource share outside (0, 1] or functional units <= 0.
    """
    energy = check_non_negative(energy_kwh, "energy_kwh")
    intensity = check_non_negative(g_per_kwh, "g_per_kwh")
    embodied_total = check_non_negative(embodied_total_kg, "embodied_total_kg")
    reserved = check_non_negative(reserved_hours, "reserved_hours")
    lifetime = check_non_negative(lifetime_hours, "lifetime_hours")
    share = check_non_negative(resource_share, "resource_share")
    units = check_non_negative(functional_units, "functional_units")
    if lifetime == 0:
        raise ValueError("lifetime_hours must be > 0")
    if reserved > lifetime:
        raise ValueError(
            f"reserved_hours ({reserved:g}) cannot exceed lifetime_hours ({lifetime:g})"
        )
    if not 0 < share <= 1:
        raise ValueError(f"resource_share must be in (0, 1], got {resource_share!r}")
    if units == 0:
        raise ValueError("functional_units must be > 0")

    operational = facility_emissions_kg(energy, intensity)
    embodied = embodied_total * (reserved / lifetime) * share
    total = operational + embodied
    return SciResult(
        operational_kg=operational,
        embodied_kg=embodied,
        total_kg=total,
        functional_units=units,
        sci_kg=total / units,
    )
