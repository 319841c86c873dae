"""Familiar equivalents of an amount of CO2e (household-weeks, car miles, TV hours, ...).

The constants live in ``data/equivalents.json``, one table used everywhere, each with
its value, unit, source and year.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from carbon.accounting import check_non_negative, facility_emissions_kg
from carbon.datasets import DATA_DIR, WORLD_ZONE, get_dataset

EQUIVALENTS_FILE = DATA_DIR / "equivalents.json"


@dataclass(frozen=True)
class EquivalentConstant:
    """One row of the equivalents table.

    Exactly one of ``kg_per_unit`` (emissions per unit) and ``kwh_per_unit`` (energy per
    unit, turned into emissions with a grid factor) is set.
    """

    key: str
    label: str
    unit: str
    kg_per_unit: float | None
    kwh_per_unit: float | None
    basis: str
    source: str
    year: int
    url: str


@dataclass(frozen=True)
class Equivalent:
    """An amount of emissions expressed in a familiar unit, ready for hover text."""

    key: str
    label: str
    value: float
    unit: str
    source: str
    year: int
    url: str
    explanation: str


@functools.cache
def equivalent_constants() -> tuple[EquivalentConstant, ...]:
    """The equivalents table, validated once."""
    raw: dict[str, Any] = json.loads(EQUIVALENTS_FILE.read_text(encoding="utf-8"))
    constants = []
    for row in raw["equivalents"]:
        kg = row.get("kg_per_unit")
        kwh = row.get("kwh_per_unit")
        if (kg is None) == (kwh is None):
            raise ValueError(
                f"{EQUIVALENTS_FILE}: {row.get('key')!r} needs exactly one of kg_per_unit, kwh_per_unit"
            )
        constant = EquivalentConstant(
            key=str(row["key"]),
            label=str(row["label"]),
            unit=str(row["unit"]),
            kg_per_unit=float(kg) if kg is not None else None,
            kwh_per_unit=float(kwh) if kwh is not None else None,
            basis=str(row["basis"]),
            source=str(row["source"]),
            year=int(row["year"]),
            url=str(row["url"]),
        )
        per_unit = (
            constant.kg_per_unit if constant.kg_per_unit is not None else constant.kwh_per_unit
        )
        if per_unit is None or not per_unit > 0:
            raise ValueError(
                f"{EQUIVALENTS_FILE}: {constant.key!r} must have a positive per-unit value"
            )
        constants.append(constant)
    return tuple(constants)


def equivalents(emissions_kg: float, g_per_kwh: float | None = None) -> list[Equivalent]:
    """Express ``emissions_kg`` in every unit of the equivalents table.

    ``g_per_kwh`` is the grid factor for energy-based equivalents (the TV): pass the
    run's own factor; without it the world average of the current dataset is used and
    the explanation says so.
    """
    kg = check_non_negative(emissions_kg, "emissions_kg")
    if g_per_kwh is None:
        grid = get_dataset().factor(WORLD_ZONE).g_per_kwh
        grid_text = f"the world-average grid ({grid:g} g CO2e/kWh)"
    else:
        grid = check_non_negative(g_per_kwh, "g_per_kwh")
        grid_text = f"a grid of {grid:g} g CO2e/kWh"

    results = []
    for c in equivalent_constants():
        if c.kg_per_unit is not None:
            value = kg / c.kg_per_unit
            explanation = f"{kg:.3g} kg CO2e / {c.kg_per_unit:g} kg per {_singular(c.unit)} ({c.basis}; {c.source}, {c.year})."
        else:
            assert c.kwh_per_unit is not None
            kg_per_unit = facility_emissions_kg(c.kwh_per_unit, grid)
            # A zero-carbon grid makes the TV run forever; report infinity honestly.
            value = kg / kg_per_unit if kg_per_unit > 0 else float("inf")
            explanation = f"{kg:.3g} kg CO2e / ({c.kwh_per_unit:g} kWh per hour x {grid_text}) ({c.basis}; {c.source}, {c.year})."
        results.append(
            Equivalent(
                key=c.key,
                label=c.label,
                value=value,
                unit=c.unit,
                source=c.source,
                year=c.year,
                url=c.url,
                explanation=explanation,
            )
        )
    return results


def _singular(unit: str) -> str:
    if unit == "hours":
        return "hour"
    if unit == "miles":
        return "mile"
    return unit[:-1] if unit.endswith("s") else unit
