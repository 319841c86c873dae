"""Factor bases, and how a figure published on one basis is brought to the other.

Every grid factor is on one of two bases:

- ``direct``: CO2e emitted by combustion at the point of generation, per kWh generated.
  This is the usual convention of GHG Protocol Scope 2 inventories, and what US EPA
  eGRID, Canada's National Inventory Report and the AIB residual mixes publish.
- ``lifecycle``: direct emissions plus those upstream (fuel extraction and transport,
  plant construction, ...). This is what Ember (and Our World in Data) publish.

A source publishes one basis. The other is derived from the zone's generation mix
(fossil, nuclear and renewable shares of generation) with median emission factors per
technology from IPCC AR5 WGIII Annex III (Schlömer et al. 2014, Table A.III.2):

    fossil lifecycle = max(L - nuclear x 12 - renewable x 24, 0)
    coal share c     = clamp((fossil lifecycle / fossil - 490) / (820 - 490), 0, 1)
    ratio            = (760 c + 370 (1 - c)) / (820 c + 490 (1 - c))
    direct           = fossil lifecycle x ratio

and the inverse for a direct figure D (c from D / fossil between 370 and 760):

    lifecycle = D / ratio + nuclear x 12 + renewable x 24

The fossil fleet's coal share is inferred from its intensity per kWh of fossil
generation (coal 820, gas 490 lifecycle; coal 760, gas 370 direct), because the
datasets record only the fossil / nuclear / renewable split. Where a zone has no recorded
mix, the fossil share is estimated from the figure itself (see :func:`assumed_shares`);
that derived figure says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Basis = Literal["direct", "lifecycle"]
BASES: tuple[Basis, ...] = ("direct", "lifecycle")
DEFAULT_BASIS: Basis = "lifecycle"

BASIS_LABELS: dict[str, str] = {
    "direct": "direct combustion",
    "lifecycle": "lifecycle",
}
BASIS_DESCRIPTIONS: dict[str, str] = {
    "direct": (
        "Direct combustion: CO2e emitted where the electricity is generated, the usual "
        "convention of GHG Protocol Scope 2 inventories."
    ),
    "lifecycle": (
        "Lifecycle: direct emissions plus those upstream (fuel supply, plant construction), "
        "as Ember and Our World in Data publish them."
    ),
}

# IPCC AR5 WGIII Annex III (Schlömer et al. 2014), Table A.III.2, median gCO2e/kWh.
# Source: https://www.ipcc.ch/report/ar5/wg3/ (Annex III: Technology-specific cost and
# performance parameters), 2014; figures quoted as facts.
COAL_DIRECT, COAL_LIFECYCLE = 760.0, 820.0  # pulverised coal
GAS_DIRECT, GAS_LIFECYCLE = 370.0, 490.0  # gas, combined cycle
NUCLEAR_LIFECYCLE = 12.0
# Hydropower's median, taken for renewables as a whole (wind 11, solar PV 41 to 48).
RENEWABLE_LIFECYCLE = 24.0

DERIVATION_SOURCE = (
    "Derived from the zone's generation mix with IPCC AR5 WGIII Annex III median factors "
    "(coal 760/820, gas 370/490 direct/lifecycle, nuclear 12, renewables 24 gCO2e/kWh lifecycle)"
)


def check_basis(value: str) -> Basis:
    """``value`` as a Basis; raises ValueError naming the accepted values."""
    if value == "direct":
        return "direct"
    if value == "lifecycle":
        return "lifecycle"
    raise ValueError(f"Unknown factor basis {value!r}: use 'direct' or 'lifecycle'.")


@dataclass(frozen=True)
class Shares:
    """Generation shares as fractions that add up to one."""

    fossil: float
    nuclear: float
    renewable: float

    @classmethod
    def from_percent(
        cls, fossil: float | None, nuclear: float | None, renewable: float | None
    ) -> Shares | None:
        """Shares from percentages, normalised; None when they are not recorded."""
        if fossil is None or nuclear is None or renewable is None:
            return None
        total = fossil + nuclear + renewable
        if total <= 0:
            return None
        return cls(fossil / total, nuclear / total, renewable / total)


ALL_FOSSIL = Shares(1.0, 0.0, 0.0)


def assumed_shares(g_per_kwh: float, basis: Basis) -> Shares:
    """Generation shares estimated from a zone's intensity alone, where no mix is recorded.

    The zone is taken as fossil plants at the midpoint of coal and gas (655 lifecycle,
    565 direct gCO2e/kWh) plus renewables (24 lifecycle, 0 direct), in the proportion that
    reproduces the figure: a 25 g grid is almost all hydro, a 650 g grid almost all fossil.
    """
    if basis == "lifecycle":
        reference = (COAL_LIFECYCLE + GAS_LIFECYCLE) / 2.0
        fossil = (g_per_kwh - RENEWABLE_LIFECYCLE) / (reference - RENEWABLE_LIFECYCLE)
    else:
        fossil = g_per_kwh / ((COAL_DIRECT + GAS_DIRECT) / 2.0)
    fossil = min(max(fossil, 0.0), 1.0)
    return Shares(fossil, 0.0, 1.0 - fossil)


def _ratio(coal: float) -> float:
    """Direct over lifecycle intensity of a fossil fleet with this coal share."""
    coal = min(max(coal, 0.0), 1.0)
    direct = COAL_DIRECT * coal + GAS_DIRECT * (1.0 - coal)
    lifecycle = COAL_LIFECYCLE * coal + GAS_LIFECYCLE * (1.0 - coal)
    return direct / lifecycle


def _upstream_non_fossil(shares: Shares) -> float:
    return shares.nuclear * NUCLEAR_LIFECYCLE + shares.renewable * RENEWABLE_LIFECYCLE


def lifecycle_to_direct(g_per_kwh: float, shares: Shares) -> float:
    """A direct-combustion figure for a zone whose lifecycle figure is ``g_per_kwh``."""
    fossil_lifecycle = max(g_per_kwh - _upstream_non_fossil(shares), 0.0)
    if shares.fossil <= 0 or fossil_lifecycle == 0:
        return 0.0
    per_fossil_kwh = fossil_lifecycle / shares.fossil
    coal = (per_fossil_kwh - GAS_LIFECYCLE) / (COAL_LIFECYCLE - GAS_LIFECYCLE)
    return fossil_lifecycle * _ratio(coal)


def direct_to_lifecycle(g_per_kwh: float, shares: Shares) -> float:
    """A lifecycle figure for a zone whose direct-combustion figure is ``g_per_kwh``."""
    upstream = _upstream_non_fossil(shares)
    if shares.fossil <= 0 or g_per_kwh <= 0:
        return g_per_kwh + upstream
    per_fossil_kwh = g_per_kwh / shares.fossil
    coal = (per_fossil_kwh - GAS_DIRECT) / (COAL_DIRECT - GAS_DIRECT)
    return g_per_kwh / _ratio(coal) + upstream


def convert(g_per_kwh: float, source_basis: Basis, wanted: Basis, shares: Shares) -> float:
    """``g_per_kwh`` published on ``source_basis`` brought to ``wanted``."""
    if source_basis == wanted:
        return g_per_kwh
    if wanted == "direct":
        return lifecycle_to_direct(g_per_kwh, shares)
    return direct_to_lifecycle(g_per_kwh, shares)
