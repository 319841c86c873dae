"""What changed between two datasets: every factor and cloud-region mapping, as published.

Used by ``python manage.py compare_datasets`` and for the change log of each release, so an
officer can say which figures moved between the dataset a report used and a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass

from carbon.datasets import Dataset, Published


@dataclass(frozen=True)
class FactorChange:
    """A zone's published figure in the old and the new dataset (None where absent)."""

    zone: str
    label: str
    old: Published | None
    new: Published | None


@dataclass(frozen=True)
class RegionChange:
    """A cloud region added, removed or mapped to another zone."""

    provider: str
    region: str
    location: str
    old_zone: str | None
    new_zone: str | None


def factor_changes(old: Dataset, new: Dataset) -> list[FactorChange]:
    """Zones whose published figure, basis, year or source differ, residual mixes included
    (as ``RESIDUAL-<zone>``), in zone order."""
    out: list[FactorChange] = []
    zones = {z.id: z.label for z in old.zones()} | {z.id: z.label for z in new.zones()}
    for zone in sorted(zones):
        before = old.published(zone) if old.has_zone(zone) else None
        after = new.published(zone) if new.has_zone(zone) else None
        if _differs(before, after):
            out.append(FactorChange(zone, zones[zone], before, after))
        before_r = old.published_residual(zone) if old.has_zone(zone) else None
        after_r = new.published_residual(zone) if new.has_zone(zone) else None
        if _differs(before_r, after_r):
            out.append(
                FactorChange(f"RESIDUAL-{zone}", f"residual mix, {zones[zone]}", before_r, after_r)
            )
    return out


def region_changes(old: Dataset, new: Dataset) -> list[RegionChange]:
    """Cloud regions added, removed or remapped to another grid zone."""
    before = {(r.provider, r.region): r for r in old.cloud_regions()}
    after = {(r.provider, r.region): r for r in new.cloud_regions()}
    out = []
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key), after.get(key)
        old_zone = (b.grid_zone or b.zone) if b else None
        new_zone = (a.grid_zone or a.zone) if a else None
        if old_zone != new_zone:
            location = (a or b).location  # type: ignore[union-attr]
            out.append(RegionChange(key[0], key[1], location, old_zone, new_zone))
    return out


def _differs(a: Published | None, b: Published | None) -> bool:
    if a is None or b is None:
        return a is not b
    return (round(a.g_per_kwh, 2), a.basis, a.year, a.source_id) != (
        round(b.g_per_kwh, 2),
        b.basis,
        b.year,
        b.source_id,
    )
