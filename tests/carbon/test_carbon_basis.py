"""Factor bases: every figure on one declared basis, the other derived by a stated method."""

from __future__ import annotations

import pytest

import carbon
from carbon.basis import Shares, convert, direct_to_lifecycle, lifecycle_to_direct

DATASET = carbon.get_dataset()


def test_a_figure_converted_there_and_back_is_unchanged() -> None:
    shares = Shares(0.4, 0.2, 0.4)
    for g in (80.0, 250.0, 480.0, 700.0):
        direct = lifecycle_to_direct(g, shares)
        assert direct < g
        assert direct_to_lifecycle(direct, shares) == pytest.approx(g)


def test_an_all_coal_grid_keeps_ipcc_s_direct_to_lifecycle_ratio() -> None:
    assert lifecycle_to_direct(820.0, Shares(1.0, 0.0, 0.0)) == pytest.approx(760.0)
    assert direct_to_lifecycle(370.0, Shares(1.0, 0.0, 0.0)) == pytest.approx(490.0)


def test_a_grid_without_fossil_generation_has_no_direct_emissions() -> None:
    shares = Shares(0.0, 0.5, 0.5)
    assert lifecycle_to_direct(18.0, shares) == 0.0
    # Its lifecycle figure is the upstream of nuclear (12) and renewables (24).
    assert direct_to_lifecycle(0.0, shares) == pytest.approx(18.0)


def test_the_same_basis_is_returned_untouched() -> None:
    assert convert(123.4, "direct", "direct", Shares(1, 0, 0)) == 123.4


def test_an_unknown_basis_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'direct' or 'lifecycle'"):
        DATASET.factor("FRA", "marginal")  # type: ignore[arg-type]


@pytest.mark.parametrize("zone", ["FRA", "USA", "DEU", "IND", "WORLD", "USA-CAMX", "CAN-QC"])
def test_every_zone_has_a_factor_on_each_basis_and_says_which(zone: str) -> None:
    direct = DATASET.factor(zone, "direct")
    lifecycle = DATASET.factor(zone, "lifecycle")
    assert (direct.basis, lifecycle.basis) == ("direct", "lifecycle")
    # Upstream emissions are never negative: lifecycle is at least direct.
    assert lifecycle.g_per_kwh >= direct.g_per_kwh
    # At most one of the two is derived, and a derived one says how.
    assert not (direct.derived and lifecycle.derived)
    for factor in (direct, lifecycle):
        if factor.derived:
            assert "IPCC AR5" in factor.note and "brought to" in factor.note


def test_countries_are_published_lifecycle_and_us_subregions_direct() -> None:
    assert not DATASET.factor("FRA", "lifecycle").derived
    assert DATASET.factor("FRA", "direct").derived
    assert not DATASET.factor("USA-CAMX", "direct").derived
    assert DATASET.factor("USA-CAMX", "lifecycle").derived


def test_a_residual_mix_is_on_the_basis_of_the_location_factor_beside_it() -> None:
    for basis in carbon.BASES:
        residual = DATASET.residual_mix("FRA", basis)
        assert residual.basis == basis
        assert not residual.is_fallback
    # AIB publishes direct residual mixes; the lifecycle one is derived and higher.
    assert not DATASET.residual_mix("FRA", "direct").derived
    assert (
        DATASET.residual_mix("FRA", "lifecycle").g_per_kwh
        > DATASET.residual_mix("FRA", "direct").g_per_kwh
    )


def test_no_zone_mixes_bases_between_its_location_and_residual_figures() -> None:
    for info in DATASET.zones():
        for basis in carbon.BASES:
            assert DATASET.factor(info.id, basis).basis == basis
            assert DATASET.residual_mix(info.id, basis).basis == basis


def test_a_google_cloud_region_uses_google_s_own_figure_for_the_region() -> None:
    region = DATASET.cloud_region("gcp", "us-west1")
    assert region is not None
    assert region.zone == carbon.cloud_zone_id("gcp", "us-west1")
    assert region.grid_zone == "USA-NWPP"
    factor = DATASET.factor(region.zone, "direct")
    assert not factor.derived and "Google" in factor.source
    # Oregon's data centres draw on a far cleaner grid than the NWPP subregion average.
    assert factor.g_per_kwh < DATASET.factor("USA-NWPP", "direct").g_per_kwh / 2
    resolved = carbon.resolve_zone(cloud_provider="gcp", cloud_region="us-west1")
    assert resolved.zone == region.zone and "published grid intensity" in resolved.reason


def test_a_cloud_zone_falls_back_to_its_grid_zone_for_the_residual_mix() -> None:
    region = DATASET.cloud_region("gcp", "europe-west1")
    assert region is not None
    residual = DATASET.residual_mix(region.zone, "direct")
    assert not residual.is_fallback
    assert residual.g_per_kwh == DATASET.residual_mix(region.grid_zone, "direct").g_per_kwh


def test_las_vegas_sits_in_the_wecc_southwest_subregion() -> None:
    region = DATASET.cloud_region("gcp", "us-west4")
    assert region is not None and region.grid_zone == "USA-AZNM"
    assert DATASET.us_state_subregion("NV") == "USA-AZNM"


def test_the_what_if_uses_the_factors_of_the_basis_asked_for() -> None:
    for basis in carbon.BASES:
        rows = carbon.what_if(100.0, pue=1.2, current_zone="FRA", basis=basis)
        france = next(a for a in rows if a.kind == "country" and a.zone == "FRA")
        assert france.g_per_kwh == DATASET.factor("FRA", basis).g_per_kwh
        oregon = next(a for a in rows if a.provider == "gcp" and a.region == "us-west1")
        assert oregon.g_per_kwh == DATASET.factor(oregon.zone, basis).g_per_kwh


def test_a_zone_s_published_figure_on_the_other_basis_beats_a_conversion() -> None:
    # eGRID2023's US total output CO2e rate, 770.884 lb/MWh, for US runs without a state.
    direct = DATASET.factor("USA", "direct")
    assert (direct.g_per_kwh, direct.year, direct.derived) == (349.7, 2023, False)
    assert "eGRID2023" in direct.source
    assert not DATASET.factor("USA", "lifecycle").derived
