"""Market-based emissions: contractual instruments first, residual mix for the rest.

Owns the market-based method (allocation of instruments to consumption, proration of
instruments to a period); the report (``reports.build.market_for``) feeds it the
period's consumption and instruments. Pure functions, no Django (GHG Protocol Scope 2
Guidance, 2015, market-based method):

- each zone's consumption (facility energy, kWh) is covered by the organisation's
  instruments in that zone, in the order given, up to the energy they cover in the
  period; covered energy takes the instrument's own factor (0 g/kWh for renewables);
- the energy no instrument covers takes the zone's residual-mix factor (or, where none
  is published, the location-based factor, flagged by the caller);
- within a zone, instruments cover Scope 2 consumption (owned and colocated hardware:
  the organisation buys that electricity) before Scope 3 consumption (cloud), so a
  certificate is never counted twice and never leaves own electricity uncovered while
  covering a supplier's.

kWh become kg with :func:`carbon.accounting.facility_emissions_kg`, the hub's one
emissions formula. Example (the unit test): 100 MWh in zone X, a PPA covering 60 MWh at
0 g/kWh and a residual mix of 400 g/kWh give 40 MWh x 400 g/kWh = 16 t.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from carbon.accounting import facility_emissions_kg

SCOPE_2 = "scope2"
SCOPE_3 = "scope3"
SCOPE_ORDER = {SCOPE_2: 0, SCOPE_3: 1}


@dataclass(frozen=True)
class Consumption:
    """Facility energy of one zone and scope, with its location and residual factors."""

    zone: str
    scope: str
    energy_kwh: float
    location_kg: float
    residual_g_per_kwh: float
    residual_is_fallback: bool = False


@dataclass(frozen=True)
class Cover:
    """What one instrument can cover in the report period, in kWh, at its factor."""

    ref: str
    kind: str
    zone: str
    kwh: float
    g_per_kwh: float


@dataclass
class LineResult:
    zone: str
    scope: str
    energy_kwh: float
    location_kg: float
    covered_kwh: float = 0.0
    covered_kg: float = 0.0
    residual_kwh: float = 0.0
    residual_kg: float = 0.0
    residual_g_per_kwh: float = 0.0
    residual_is_fallback: bool = False

    @property
    def market_kg(self) -> float:
        return self.covered_kg + self.residual_kg


@dataclass
class CoverUse:
    ref: str
    kind: str
    zone: str
    available_kwh: float
    g_per_kwh: float
    used_kwh: float = 0.0

    @property
    def unused_kwh(self) -> float:
        return max(self.available_kwh - self.used_kwh, 0.0)

    @property
    def kg(self) -> float:
        return facility_emissions_kg(self.used_kwh, self.g_per_kwh)


@dataclass
class MarketResult:
    lines: list[LineResult] = field(default_factory=list)
    covers: list[CoverUse] = field(default_factory=list)

    def market_kg(self, scope: str | None = None) -> float:
        """Market-based emissions, of one scope or all."""
        return sum(line.market_kg for line in self.lines if scope is None or line.scope == scope)

    def location_kg(self, scope: str | None = None) -> float:
        """Location-based emissions, of one scope or all."""
        return sum(line.location_kg for line in self.lines if scope is None or line.scope == scope)

    def energy_kwh(self, scope: str | None = None) -> float:
        return sum(line.energy_kwh for line in self.lines if scope is None or line.scope == scope)

    def covered_kwh(self, scope: str | None = None) -> float:
        return sum(line.covered_kwh for line in self.lines if scope is None or line.scope == scope)


def market_based(consumption: list[Consumption], covers: list[Cover]) -> MarketResult:
    """Allocate instruments to consumption zone by zone; see the module docstring."""
    uses = [CoverUse(c.ref, c.kind, c.zone, max(c.kwh, 0.0), c.g_per_kwh) for c in covers]
    lines: dict[int, LineResult] = {}
    allocation_order = sorted(
        range(len(consumption)),
        key=lambda i: (consumption[i].zone, SCOPE_ORDER.get(consumption[i].scope, 9), i),
    )
    for index in allocation_order:
        line = consumption[index]
        out = LineResult(
            zone=line.zone,
            scope=line.scope,
            energy_kwh=line.energy_kwh,
            location_kg=line.location_kg,
            residual_g_per_kwh=line.residual_g_per_kwh,
            residual_is_fallback=line.residual_is_fallback,
        )
        need = max(line.energy_kwh, 0.0)
        for use in uses:
            if need <= 0:
                break
            take = min(need, use.unused_kwh) if use.zone == line.zone else 0.0
            if take <= 0:
                continue
            use.used_kwh += take
            out.covered_kwh += take
            out.covered_kg += facility_emissions_kg(take, use.g_per_kwh)
            need -= take
        out.residual_kwh = need
        out.residual_kg = facility_emissions_kg(need, line.residual_g_per_kwh)
        lines[index] = out
    # Lines come back in the caller's order, covers in theirs.
    return MarketResult(lines=[lines[i] for i in range(len(consumption))], covers=uses)


def overlap_fraction(
    inner_start: datetime, inner_end: datetime, outer_start: datetime, outer_end: datetime
) -> float:
    """Share of [inner_start, inner_end) that lies inside [outer_start, outer_end)."""
    length = (inner_end - inner_start).total_seconds()
    if length <= 0:
        return 0.0
    lo = max(inner_start, outer_start)
    hi = min(inner_end, outer_end)
    return max((hi - lo).total_seconds(), 0.0) / length


def quantity_cover_kwh(
    mwh: float,
    instrument_start: datetime,
    instrument_end: datetime,
    period_start: datetime,
    period_end: datetime,
) -> float:
    """kWh of a quantity instrument that falls in the period, prorated by time.

    A certificate for 120 MWh over a year contributes 30 MWh to a quarter of 3 months
    (by seconds of overlap, so quarters of different lengths get slightly different shares).
    """
    return (
        mwh * 1000.0 * overlap_fraction(instrument_start, instrument_end, period_start, period_end)
    )


def share_cover_kwh(share_pct: float, zone_kwh_in_overlap: float) -> float:
    """kWh of a share instrument: its share of the zone's consumption while it is valid."""
    return zone_kwh_in_overlap * share_pct / 100.0
