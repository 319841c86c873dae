"""The bridge between the data model and ``carbon/``: zones, factors and emissions.

Emissions are computed here at ingestion and never trusted from the client:
facility energy (IT energy x PUE) x the factor of the run's grid zone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import carbon
from api.models import EmissionFactor


class LocationError(ValueError):
    """A country, region or cloud region the hub does not know."""


@dataclass(frozen=True)
class Placement:
    """Where a run ran, resolved: zone, PUE and the factor the hub applies."""

    country: str
    region: str
    cloud_provider: str
    cloud_region: str
    zone: str
    zone_label: str
    location_known: bool
    pue: float
    factor: EmissionFactor

    def run_fields(self) -> dict[str, Any]:
        """The ``Run`` columns of this placement (its fields are named as they are)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def factor_record(
    zone: str,
    dataset: carbon.Dataset | str | None = None,
    kind: str = "location",
    basis: str = carbon.DEFAULT_BASIS,
) -> EmissionFactor:
    """The stored EmissionFactor row for a zone of a dataset (default: the current one)
    on a basis, created on first use."""
    if not isinstance(dataset, carbon.Dataset):
        dataset = carbon.get_dataset(dataset)
    wanted = carbon.check_basis(basis)
    fac = dataset.factor(zone, wanted) if kind == "location" else dataset.residual_mix(zone, wanted)
    record, _ = EmissionFactor.objects.get_or_create(
        dataset_version=dataset.version,
        zone=zone,
        kind=kind,
        basis=wanted,
        defaults={
            "g_per_kwh": fac.g_per_kwh,
            "year": fac.year,
            "source": fac.source,
            "licence": fac.licence,
            "url": fac.url[:500],
            "is_fallback": fac.is_fallback,
            "derived": fac.derived,
            "note": fac.note,
        },
    )
    return record


def place(
    *,
    country: str | None,
    region: str | None,
    cloud_provider: str | None,
    cloud_region: str | None,
    pue: float | None,
    default_pue: float | None = None,
    basis: str = carbon.DEFAULT_BASIS,
) -> Placement:
    """Resolve a location to a zone, PUE and factor; raise LocationError for unknown codes.

    PUE precedence: explicit, then the cloud provider's published PUE, then the project's
    default, then the on-premises default of the dataset's methodology. The factor is on
    ``basis``, the organisation's (see :class:`api.models.Organisation`).
    """
    try:
        res = carbon.resolve_zone(
            country=country or None,
            region=region or None,
            cloud_provider=cloud_provider or None,
            cloud_region=cloud_region or None,
        )
    except carbon.UnknownLocation as exc:
        raise LocationError(str(exc)) from exc
    if pue is None:
        pue = res.provider_pue or default_pue or carbon.get_dataset().default_pue
    return Placement(
        country=(res.country or country or "").upper()[:3],
        region=(region or "")[:20],
        cloud_provider=(res.cloud_provider or cloud_provider or "").lower()[:20],
        cloud_region=(cloud_region or "")[:40],
        zone=res.zone,
        zone_label=res.label,
        location_known=res.known,
        pue=float(pue),
        factor=factor_record(res.zone, basis=basis),
    )
