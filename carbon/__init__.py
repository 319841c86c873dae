"""Carbon accounting for Emissions Hub: pure Python, standard library only, no Django.

Emission-factor datasets (versioned data files), zone resolution, accounting (the one
emissions formula and PUE bounds: ``carbon.accounting``), the market-based method
(``carbon.market``), equivalents, what-ifs and the Software Carbon Intensity score.
"""

from __future__ import annotations

from carbon.accounting import (
    MAX_PUE,
    MIN_PUE,
    emissions_kg,
    facility_emissions_kg,
    facility_energy_kwh,
)
from carbon.basis import (
    BASES,
    BASIS_DESCRIPTIONS,
    BASIS_LABELS,
    DEFAULT_BASIS,
    Basis,
    check_basis,
)
from carbon.datasets import (
    DEFAULT_VERSION,
    WORLD_ZONE,
    CloudRegion,
    Dataset,
    DatasetError,
    DatasetInfo,
    Factor,
    Mix,
    Provider,
    Source,
    UnknownLocation,
    ZoneInfo,
    cloud_zone_id,
    get_dataset,
    list_datasets,
    load_dataset_file,
)
from carbon.equivalents import Equivalent, EquivalentConstant, equivalent_constants, equivalents
from carbon.sci import DEFAULT_LIFETIME_HOURS, SciResult, sci
from carbon.whatif import Alternative, cleanest_per_provider, what_if
from carbon.zones import (
    ZoneResolution,
    normalise_provider,
    resolve_zone,
    validate_cloud_region,
    validate_country,
)

__all__ = [
    "BASES",
    "BASIS_DESCRIPTIONS",
    "BASIS_LABELS",
    "DEFAULT_BASIS",
    "DEFAULT_LIFETIME_HOURS",
    "DEFAULT_VERSION",
    "MAX_PUE",
    "MIN_PUE",
    "WORLD_ZONE",
    "Alternative",
    "Basis",
    "CloudRegion",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "Equivalent",
    "EquivalentConstant",
    "Factor",
    "Mix",
    "Provider",
    "SciResult",
    "Source",
    "UnknownLocation",
    "ZoneInfo",
    "ZoneResolution",
    "check_basis",
    "cleanest_per_provider",
    "cloud_zone_id",
    "emissions_kg",
    "equivalent_constants",
    "equivalents",
    "facility_emissions_kg",
    "facility_energy_kwh",
    "get_dataset",
    "list_datasets",
    "load_dataset_file",
    "normalise_provider",
    "resolve_zone",
    "sci",
    "validate_cloud_region",
    "validate_country",
    "what_if",
]
