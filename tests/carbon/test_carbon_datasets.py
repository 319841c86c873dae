from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from carbon import (
    DEFAULT_VERSION,
    DatasetError,
    UnknownLocation,
    get_dataset,
    list_datasets,
    load_dataset_file,
)
from carbon.datasets import LB_PER_MWH_TO_G_PER_KWH


def test_it_ships_at_least_200_countries_with_codes_and_names() -> None:
    countries = [z for z in get_dataset().zones() if z.kind == "country"]
    assert len(countries) >= 200
    for zone in countries:
        assert len(zone.id) == 3 and zone.id.isupper()
        assert zone.alpha2 is not None and len(zone.alpha2) == 2
        assert zone.label


def test_every_factor_is_positive_finite_and_has_a_source() -> None:
    dataset = get_dataset()
    for zone in dataset.zones():
        factor = dataset.factor(zone.id)
        assert math.isfinite(factor.g_per_kwh) and factor.g_per_kwh > 0, zone.id
        assert factor.source and factor.licence and factor.url.startswith("https://"), zone.id
        # The year the figure is for: Western Sahara's latest Ember figure is for 2009.
        assert 2009 <= factor.year <= 2030
        assert factor.dataset_version == dataset.version


def test_every_cloud_region_maps_to_an_existing_zone_with_a_valid_pue() -> None:
    dataset = get_dataset()
    regions = dataset.cloud_regions()
    for provider in ("aws", "gcp", "azure"):
        assert len(dataset.cloud_regions(provider)) >= 30
    for region in regions:
        assert dataset.has_zone(region.zone), region
        assert 1.0 <= region.pue <= 3.0
        assert region.pue_source


def test_it_has_every_egrid_subregion_us_state_and_canadian_province() -> None:
    dataset = get_dataset()
    us = dataset.subnational_zones("USA")
    assert len(us) >= 26
    assert {"USA-CAMX", "USA-ERCT", "USA-NWPP", "USA-RFCE", "USA-SRVC"} <= {z.id for z in us}
    assert len(dataset.subnational_zones("CAN")) == 13
    states = [
        s
        for s in [
            "AL",
            "AK",
            "AZ",
            "AR",
            "CA",
            "CO",
            "CT",
            "DE",
            "DC",
            "FL",
            "GA",
            "HI",
            "ID",
            "IL",
            "IN",
            "IA",
            "KS",
            "KY",
            "LA",
            "ME",
            "MD",
            "MA",
            "MI",
            "MN",
            "MS",
            "MO",
            "MT",
            "NE",
            "NV",
            "NH",
            "NJ",
            "NM",
            "NY",
            "NC",
            "ND",
            "OH",
            "OK",
            "OR",
            "PA",
            "RI",
            "SC",
            "SD",
            "TN",
            "TX",
            "UT",
            "VT",
            "VA",
            "WA",
            "WV",
            "WI",
            "WY",
        ]
    ]
    assert len(states) == 51
    for state in states:
        assert dataset.us_state_subregion(state) is not None, state


def test_egrid_factors_are_the_published_lb_per_mwh_converted_to_g_per_kwh() -> None:
    # eGRID publishes lb/MWh; 1 lb/MWh = 0.45359237 g/kWh
    path = get_dataset().path / "us_egrid_subregions.csv"
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            expected = float(row["lb_per_mwh"]) * LB_PER_MWH_TO_G_PER_KWH
            assert float(row["g_per_kwh"]) == pytest.approx(expected, abs=0.06), row["code"]


def test_it_records_a_generation_mix_for_the_largest_countries() -> None:
    dataset = get_dataset()
    for zone in ("CHN", "USA", "IND", "RUS", "JPN", "BRA", "CAN", "KOR", "DEU", "FRA", "GBR"):
        mix = dataset.mix(zone)
        assert mix is not None, zone
        assert 95 <= mix.fossil_pct + mix.nuclear_pct + mix.renewable_pct <= 100.5
    assert dataset.mix("USA-CAMX") is None
    assert len([z for z in dataset.zones() if dataset.mix(z.id) is not None]) >= 40


def test_it_returns_a_published_residual_mix_for_european_countries() -> None:
    factor = get_dataset().residual_mix("DEU")
    assert not factor.is_fallback
    assert "AIB" in factor.source


def test_it_falls_back_to_the_location_factor_without_a_residual_mix() -> None:
    dataset = get_dataset()
    factor = dataset.residual_mix("USA-CAMX")
    assert factor.is_fallback
    assert factor.g_per_kwh == dataset.factor("USA-CAMX").g_per_kwh
    assert "No residual mix" in factor.note


def test_the_world_factor_is_flagged_as_a_fallback() -> None:
    world = get_dataset().factor("WORLD")
    assert world.is_fallback
    # Ember via OWID, World 2024 (lifecycle).
    assert (world.g_per_kwh, world.year, world.basis) == (471.08, 2024, "lifecycle")


def test_factor_lookup_is_case_insensitive_and_rejects_unknown_zones() -> None:
    dataset = get_dataset()
    assert dataset.factor("fra").zone == "FRA"
    with pytest.raises(UnknownLocation):
        dataset.factor("ATLANTIS")


def test_it_lists_the_shipped_datasets_and_caches_the_default() -> None:
    infos = list_datasets()
    assert DEFAULT_VERSION in {i.version for i in infos}
    assert next(i for i in infos if i.is_default).licence
    assert get_dataset() is get_dataset(DEFAULT_VERSION)
    with pytest.raises(DatasetError, match="Unknown dataset version"):
        get_dataset("hub-1999.1")


def test_it_uses_the_default_on_premises_pue() -> None:
    assert get_dataset().default_pue == pytest.approx(1.56)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "hub-test"
    shutil.copytree(get_dataset().path, target)
    return target


def test_it_loads_a_dataset_from_a_folder_or_its_manifest(copy: Path) -> None:
    assert load_dataset_file(copy).version == DEFAULT_VERSION
    assert load_dataset_file(copy / "dataset.json").factor("FRA").g_per_kwh == 40.48


def test_a_subnational_zone_without_a_figure_falls_back_to_its_country(copy: Path) -> None:
    path = copy / "canada_provinces.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [
        ",".join([*ln.split(",")[:2], "", "", "", "", "", "", ""]) if ln.startswith("QC,") else ln
        for ln in lines
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    factor = load_dataset_file(copy).factor("CAN-QC")
    assert factor.is_fallback
    assert factor.g_per_kwh == load_dataset_file(copy).factor("CAN").g_per_kwh
    assert "CAN" in factor.note


def test_it_rejects_a_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset manifest"):
        load_dataset_file(tmp_path)


def test_it_rejects_a_negative_factor(copy: Path) -> None:
    path = copy / "countries.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("FRA,FR,France,40.48,", "FRA,FR,France,-40.48,"),
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match="countries row"):
        load_dataset_file(copy)


def test_it_rejects_an_unknown_source_id(copy: Path) -> None:
    path = copy / "residual_mix.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace(",aib-2023-v1.0", ",nobody", 1),
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match="unknown source id"):
        load_dataset_file(copy)


def test_it_rejects_a_cloud_region_in_an_unknown_zone(copy: Path) -> None:
    path = copy / "cloud_regions.csv"
    path.write_text(
        path.read_text(encoding="utf-8") + "aws,xx-moon-1,Moon,MOON\n", encoding="utf-8"
    )
    with pytest.raises(DatasetError, match="unknown zone"):
        load_dataset_file(copy)


def test_it_rejects_a_provider_pue_out_of_range(copy: Path) -> None:
    manifest = json.loads((copy / "dataset.json").read_text(encoding="utf-8"))
    manifest["providers"]["aws"]["pue"] = 0.9
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(DatasetError, match="PUE"):
        load_dataset_file(copy)


def test_it_rejects_malformed_json(copy: Path) -> None:
    (copy / "dataset.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError, match="cannot read JSON"):
        load_dataset_file(copy)
