from __future__ import annotations

import pytest

from carbon import UnknownLocation, get_dataset, resolve_zone


def test_it_resolves_aws_region_to_its_grid_zone() -> None:
    resolved = resolve_zone(cloud_provider="aws", cloud_region="eu-west-3")
    assert resolved.zone == "FRA"
    assert resolved.kind == "cloud"
    assert resolved.known
    assert resolved.provider_pue == get_dataset().provider_pue("aws")
    assert "eu-west-3" in resolved.reason


def test_it_resolves_a_us_cloud_region_to_its_egrid_subregion() -> None:
    resolved = resolve_zone(cloud_provider="azure", cloud_region="centralus")
    assert resolved.zone == "USA-MROW"
    assert resolved.cloud_provider == "azure"


def test_a_google_cloud_region_resolves_to_its_own_published_zone() -> None:
    resolved = resolve_zone(cloud_provider="Google Cloud", cloud_region="us-central1")
    assert resolved.zone == "GCP-US-CENTRAL1"
    assert resolved.cloud_provider == "gcp"
    assert "USA-MROW" in resolved.reason


@pytest.mark.parametrize("spelling", ["gcp", "GCP", "google", "Google Cloud"])
def test_it_accepts_google_cloud_spellings(spelling: str) -> None:
    assert (
        resolve_zone(cloud_provider=spelling, cloud_region="europe-west1").zone
        == "GCP-EUROPE-WEST1"
    )


def test_it_prefers_the_cloud_region_over_the_country() -> None:
    resolved = resolve_zone(
        country="US", region="TX", cloud_provider="azure", cloud_region="westeurope"
    )
    assert resolved.zone == "NLD"


def test_it_resolves_cloud_region_codes_case_insensitively() -> None:
    assert resolve_zone(cloud_provider="AZURE", cloud_region="WestEurope").zone == "NLD"


def test_it_resolves_a_us_state_to_its_egrid_subregion() -> None:
    resolved = resolve_zone(country="USA", region="CA")
    assert resolved.zone == "USA-CAMX"
    assert resolved.kind == "subnational"
    assert resolved.country == "USA"
    assert resolve_zone(country="us", region="texas").zone == "USA-ERCT"


def test_it_resolves_an_egrid_subregion_code() -> None:
    assert resolve_zone(country="USA", region="rfce").zone == "USA-RFCE"
    assert resolve_zone(country="USA", region="USA-SRVC").zone == "USA-SRVC"


def test_it_resolves_a_canadian_province_by_code_or_name() -> None:
    assert resolve_zone(country="CA", region="QC").zone == "CAN-QC"
    assert resolve_zone(country="CAN", region="Québec").zone == "CAN-QC"
    assert resolve_zone(country="can", region="ontario").zone == "CAN-ON"


def test_it_accepts_alpha2_and_alpha3_country_codes_in_any_case() -> None:
    for code in ("FR", "fr", "FRA", "fra", " Fra "):
        resolved = resolve_zone(country=code)
        assert resolved.zone == "FRA"
        assert resolved.label == "France"
        assert resolved.kind == "country"
        assert resolved.known


def test_it_ignores_a_region_for_a_country_without_subnational_figures() -> None:
    resolved = resolve_zone(country="FR", region="Île-de-France")
    assert resolved.zone == "FRA"
    assert "not used" in resolved.reason


def test_it_falls_back_to_the_world_average_when_nothing_is_given() -> None:
    resolved = resolve_zone()
    assert resolved.zone == "WORLD"
    assert resolved.kind == "world"
    assert not resolved.known
    assert get_dataset().factor("WORLD").is_fallback


def test_it_treats_empty_strings_as_missing() -> None:
    assert resolve_zone(country="", region="", cloud_provider="", cloud_region="").zone == "WORLD"


def test_it_keeps_the_provider_pue_when_only_the_provider_is_known() -> None:
    resolved = resolve_zone(country="DE", cloud_provider="gcp")
    assert resolved.zone == "DEU"
    assert resolved.provider_pue == pytest.approx(1.10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"country": "ZZ"},
        {"country": "XYZ"},
        {"country": "France"},
        {"country": "F1"},
        {"country": "USA", "region": "ZZ"},
        {"country": "USA", "region": "CAMY"},
        {"country": "CAN", "region": "XX"},
        {"region": "CA"},
        {"cloud_provider": "aws", "cloud_region": "eu-west-9"},
        {"cloud_provider": "oracle", "cloud_region": "us-ashburn-1"},
        {"cloud_region": "us-east-1"},
    ],
)
def test_it_raises_unknown_location_for_unknown_codes(kwargs: dict[str, str]) -> None:
    with pytest.raises(UnknownLocation):
        resolve_zone(
            country=kwargs.get("country"),
            region=kwargs.get("region"),
            cloud_provider=kwargs.get("cloud_provider"),
            cloud_region=kwargs.get("cloud_region"),
        )


def test_it_suggests_close_cloud_regions_in_the_error_message() -> None:
    with pytest.raises(UnknownLocation, match="Did you mean eu-west-3"):
        resolve_zone(cloud_provider="aws", cloud_region="eu-west-33")


def test_unknown_location_is_a_value_error() -> None:
    assert issubclass(UnknownLocation, ValueError)
