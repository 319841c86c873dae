"""Resolve where a run happened to the grid zone whose factor applies.

Precedence: cloud provider + region -> the grid zone of that region's data centres; else
country + sub-national region (US eGRID subregion or state, Canadian province); else
country; else the world average, flagged as "location unknown".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from carbon.datasets import WORLD_ZONE, Dataset, UnknownLocation, get_dataset

ResolutionKind = Literal["cloud", "subnational", "country", "world"]

# Spellings seen in the wild (CodeCarbon sends "gcp"; people type "Google Cloud").
_PROVIDER_ALIASES = {
    "aws": "aws",
    "amazon": "aws",
    "amazon web services": "aws",
    "gcp": "gcp",
    "google": "gcp",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "azure": "azure",
    "microsoft azure": "azure",
}


@dataclass(frozen=True)
class ZoneResolution:
    """The grid zone a location resolved to, and why."""

    zone: str
    label: str
    known: bool
    provider_pue: float | None
    kind: ResolutionKind
    reason: str
    country: str | None = None
    cloud_provider: str | None = None
    cloud_region: str | None = None


def normalise_provider(cloud_provider: str) -> str:
    """Provider id (``aws``, ``gcp``, ``azure``) for a spelling; raises UnknownLocation."""
    key = " ".join(cloud_provider.strip().lower().split())
    try:
        return _PROVIDER_ALIASES[key]
    except KeyError:
        raise UnknownLocation(
            f"Unknown cloud provider {cloud_provider!r}: use 'aws', 'gcp' (Google Cloud) or 'azure'."
        ) from None


def validate_country(country: str, dataset: Dataset | None = None) -> str:
    """Alpha-3 code for an ISO 3166-1 alpha-2 or alpha-3 code (any case).

    Raises :class:`UnknownLocation` when the code is malformed or has no data.
    """
    dataset = dataset or get_dataset()
    code = country.strip().upper()
    if len(code) not in (2, 3) or not code.isalpha():
        raise UnknownLocation(
            f"Country {country!r} is not an ISO 3166-1 code: use two or three letters, e.g. 'FR' or 'FRA'."
        )
    alpha3 = dataset.country_for_alpha2(code) if len(code) == 2 else code
    if alpha3 is None or not dataset.has_zone(alpha3) or dataset.zone(alpha3).kind != "country":
        raise UnknownLocation(
            f"Unknown country code {country!r}: dataset {dataset.version} has no figure for it."
        )
    return alpha3


def validate_cloud_region(
    cloud_provider: str, cloud_region: str, dataset: Dataset | None = None
) -> tuple[str, str]:
    """``(provider id, region code)`` for a known cloud region; raises UnknownLocation."""
    dataset = dataset or get_dataset()
    provider = normalise_provider(cloud_provider)
    found = dataset.cloud_region(provider, cloud_region)
    if found is None:
        known = [r.region for r in dataset.cloud_regions(provider)]
        close = difflib.get_close_matches(cloud_region.strip().lower(), known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownLocation(
            f"Unknown {provider} region {cloud_region!r} in dataset {dataset.version}.{hint} "
            f"Known {provider} regions: {', '.join(sorted(known))}."
        )
    return provider, found.region


def resolve_zone(
    country: str | None = None,
    region: str | None = None,
    cloud_provider: str | None = None,
    cloud_region: str | None = None,
    dataset: Dataset | None = None,
) -> ZoneResolution:
    """Resolve a location to a grid zone (see the module docstring for the precedence).

    Empty strings count as missing, because clients such as CodeCarbon send ``""`` for
    fields they do not know. Raises :class:`UnknownLocation` for any code given but not
    known, so a typo is reported instead of silently billed at the world average.
    """
    dataset = dataset or get_dataset()
    country, region = _clean(country), _clean(region)
    cloud_provider, cloud_region = _clean(cloud_provider), _clean(cloud_region)

    provider: str | None = None
    if cloud_provider is not None:
        provider = normalise_provider(cloud_provider)
    if cloud_region is not None:
        if provider is None:
            raise UnknownLocation(
                f"Cloud region {cloud_region!r} was given without a cloud provider: add 'aws', 'gcp' or 'azure'."
            )
        provider, region_code = validate_cloud_region(provider, cloud_region, dataset)
        found = dataset.cloud_region(provider, region_code)
        assert found is not None
        zone = dataset.zone(found.zone)
        grid = dataset.zone(found.grid_zone or found.zone)
        if zone.kind == "cloud":
            reason = (
                f"Cloud region {found.label}: the provider's published grid intensity for the "
                f"region is used (it sits in the {grid.label} grid, {grid.id})."
            )
        else:
            reason = f"Cloud region {found.label} draws on the {grid.label} grid ({grid.id})."
        return ZoneResolution(
            zone=zone.id,
            label=zone.label,
            known=True,
            provider_pue=found.pue,
            kind="cloud",
            reason=reason,
            country=zone.country,
            cloud_provider=provider,
            cloud_region=found.region,
        )

    provider_pue = dataset.provider_pue(provider) if provider is not None else None
    # A provider without a region still tells us the PUE, so keep it for what follows.
    provider_note = (
        f" Cloud provider {provider} given without a region." if provider is not None else ""
    )

    if country is None:
        if region is not None:
            raise UnknownLocation(
                f"Region {region!r} was given without a country: add an ISO country code, e.g. 'US' or 'CA'."
            )
        world = dataset.factor(WORLD_ZONE)
        return ZoneResolution(
            zone=WORLD_ZONE,
            label="World average (location unknown)",
            known=False,
            provider_pue=provider_pue,
            kind="world",
            reason=f"No location was given, so the world-average intensity ({world.g_per_kwh:g} g/kWh) "
            f"is used.{provider_note}",
            cloud_provider=provider,
        )

    alpha3 = validate_country(country, dataset)
    country_zone = dataset.zone(alpha3)
    if region is not None:
        sub_zone = dataset.subnational_zone(alpha3, region)
        if sub_zone is not None:
            info = dataset.zone(sub_zone)
            via = (
                ""
                if region.strip().upper() in (sub_zone, sub_zone.split("-", 1)[1])
                else f" (from {region!r})"
            )
            return ZoneResolution(
                zone=info.id,
                label=info.label,
                known=True,
                provider_pue=provider_pue,
                kind="subnational",
                reason=f"Sub-national zone {info.id}{via} in {country_zone.label}.{provider_note}",
                country=alpha3,
                cloud_provider=provider,
            )
        if dataset.has_subnational_zones(alpha3):
            raise UnknownLocation(_unknown_region_message(dataset, alpha3, region))
        # Countries without sub-national figures: the region adds nothing, so the
        # country factor applies and the reason says the region was not used.
        return ZoneResolution(
            zone=alpha3,
            label=country_zone.label,
            known=True,
            provider_pue=provider_pue,
            kind="country",
            reason=f"Country {country_zone.label}; dataset {dataset.version} has no sub-national figures "
            f"for it, so region {region!r} is not used.{provider_note}",
            country=alpha3,
            cloud_provider=provider,
        )

    return ZoneResolution(
        zone=alpha3,
        label=country_zone.label,
        known=True,
        provider_pue=provider_pue,
        kind="country",
        reason=f"Country {country_zone.label} ({alpha3}).{provider_note}",
        country=alpha3,
        cloud_provider=provider,
    )


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _unknown_region_message(dataset: Dataset, alpha3: str, region: str) -> str:
    if alpha3 == "USA":
        return (
            f"Unknown US region {region!r}: use a two-letter state code (e.g. 'CA') or an eGRID "
            "subregion code (e.g. 'CAMX', 'ERCT', 'RFCE')."
        )
    codes = sorted(z.id.split("-", 1)[1] for z in dataset.subnational_zones(alpha3))
    return f"Unknown region {region!r} for {dataset.zone(alpha3).label}: use one of {', '.join(codes)}."
