"""The shipped dataset held against figures checked by hand against their sources.

Each ``verified_*.csv`` beside this file lists (zone, value, basis, year, source) rows that
were read in the source itself; ``checked_against`` says where. A row whose figure could
not be checked says ``UNVERIFIED`` and why, so the gaps are listed rather than hidden.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import carbon

HERE = Path(__file__).resolve().parent
DATASET = carbon.get_dataset()
RESIDUAL = "RESIDUAL-"


def rows(name: str) -> list[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def verified(name: str) -> list[dict[str, str]]:
    return [r for r in rows(name) if not r["checked_against"].startswith("UNVERIFIED")]


def check(published: carbon.Published | None, row: dict[str, str]) -> None:
    assert published is not None, f"{row['zone']} has no figure in {DATASET.version}"
    where = f"{row['zone']} ({row['checked_against']})"
    assert published.g_per_kwh == pytest.approx(float(row["g_per_kwh"]), abs=0.051), where
    assert published.basis == row["basis"], where
    assert published.year == int(row["year"]), where
    assert published.source_id == row["source"], where


@pytest.mark.parametrize("row", verified("verified_countries.csv"), ids=lambda r: r["zone"])
def test_a_verified_country_figure_is_the_one_shipped(row: dict[str, str]) -> None:
    check(DATASET.published(row["zone"]), row)


def test_at_least_the_forty_largest_consumers_are_verified() -> None:
    zones = {r["zone"] for r in verified("verified_countries.csv")}
    largest = {"CHN", "USA", "IND", "RUS", "JPN", "BRA", "CAN", "KOR", "DEU", "FRA"}
    assert largest <= zones
    assert len(zones) >= 40


@pytest.mark.parametrize(
    "row",
    [r for r in verified("verified_subnational.csv") if r["g_per_kwh"]],
    ids=lambda r: r["zone"],
)
def test_a_verified_sub_national_or_residual_figure_is_the_one_shipped(
    row: dict[str, str],
) -> None:
    zone = row["zone"]
    if zone.startswith(RESIDUAL):
        check(DATASET.published_residual(zone.removeprefix(RESIDUAL)), row)
    else:
        check(DATASET.published(zone), row)


def test_every_sub_national_zone_is_in_the_verification_table() -> None:
    listed = {r["zone"] for r in rows("verified_subnational.csv")}
    subnational = {z.id for z in DATASET.zones() if z.kind == "subnational"}
    assert subnational <= listed


def test_a_residual_mix_published_as_not_applicable_is_not_shipped() -> None:
    # AIB prints "N/A" for a country with full disclosure: no residual mix to apply.
    for row in verified("verified_subnational.csv"):
        if row["zone"].startswith(RESIDUAL) and not row["g_per_kwh"]:
            assert DATASET.published_residual(row["zone"].removeprefix(RESIDUAL)) is None


@pytest.mark.parametrize(
    "row", verified("verified_cloud.csv"), ids=lambda r: f"{r['provider']}-{r['region']}"
)
def test_a_verified_cloud_region_maps_and_counts_as_checked(row: dict[str, str]) -> None:
    region = DATASET.cloud_region(row["provider"], row["region"])
    assert region is not None, row
    assert region.grid_zone == row["zone"]
    if row["g_per_kwh"]:
        check(DATASET.published(region.zone), {**row, "zone": region.zone})
    else:
        assert region.zone == region.grid_zone
