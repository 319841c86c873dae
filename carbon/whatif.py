"""What-if: the same IT energy in every cloud region and every country."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from carbon.accounting import check_non_negative, check_pue, emissions_kg
from carbon.basis import DEFAULT_BASIS, Basis
from carbon.datasets import Dataset, get_dataset

AlternativeKind = Literal["cloud", "country"]


@dataclass(frozen=True)
class Alternative:
    """Emissions of the same IT energy in another place.

    ``saving_kg`` and ``saving_pct`` compare with the current zone (positive = less
    emitted than now); they are None when no current zone was given, and ``saving_pct``
    is None when the current emissions are zero.
    """

    kind: AlternativeKind
    provider: str | None
    region: str | None
    zone: str
    label: str
    g_per_kwh: float
    pue: float
    emissions_kg: float
    saving_kg: float | None
    saving_pct: float | None


def what_if(
    energy_kwh: float,
    pue: float | None = None,
    current_zone: str | None = None,
    dataset: Dataset | None = None,
    basis: Basis = DEFAULT_BASIS,
) -> list[Alternative]:
    """Emissions of ``energy_kwh`` of IT energy in every cloud region and country.

    Cloud regions use their provider's PUE; countries use ``pue`` or the dataset's
    on-premises default, and so does the current zone. Sorted by emissions ascending
    (then label, so ties come out in a stable order). Every factor is on ``basis``, the
    same factors ingestion applies, so a comparison never sets one basis against another.
    """
    dataset = dataset or get_dataset()
    energy = check_non_negative(energy_kwh, "energy_kwh")
    site_pue = check_pue(pue) if pue is not None else dataset.default_pue

    current_kg: float | None = None
    if current_zone is not None:
        current_kg = emissions_kg(energy, site_pue, dataset.factor(current_zone, basis).g_per_kwh)

    def savings(kg: float) -> tuple[float | None, float | None]:
        if current_kg is None:
            return None, None
        saving = current_kg - kg
        return saving, (saving / current_kg * 100.0 if current_kg > 0 else None)

    alternatives = []
    for region in dataset.cloud_regions():
        g = dataset.factor(region.zone, basis).g_per_kwh
        kg = emissions_kg(energy, region.pue, g)
        alternatives.append(
            Alternative(
                "cloud",
                region.provider,
                region.region,
                region.zone,
                region.label,
                g,
                region.pue,
                kg,
                *savings(kg),
            )
        )
    for zone in dataset.zones():
        if zone.kind != "country":
            continue
        g = dataset.factor(zone.id, basis).g_per_kwh
        kg = emissions_kg(energy, site_pue, g)
        alternatives.append(
            Alternative("country", None, None, zone.id, zone.label, g, site_pue, kg, *savings(kg))
        )

    alternatives.sort(key=lambda a: (a.emissions_kg, a.label))
    return alternatives


def cleanest_per_provider(alternatives: list[Alternative]) -> dict[str, Alternative]:
    """The lowest-emission cloud alternative of each provider (country rows ignored)."""
    best: dict[str, Alternative] = {}
    for alt in alternatives:
        if alt.kind != "cloud" or alt.provider is None:
            continue
        if alt.provider not in best or alt.emissions_kg < best[alt.provider].emissions_kg:
            best[alt.provider] = alt
    return best
