"""The change log between two datasets lists every moved figure and remapped region."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from carbon import get_dataset
from carbon.compare import factor_changes, region_changes

OLD, NEW = get_dataset("hub-2025.1"), get_dataset("hub-2026.1")


def test_it_lists_a_changed_figure_with_both_years_and_bases() -> None:
    ontario = next(c for c in factor_changes(OLD, NEW) if c.zone == "CAN-ON")
    assert ontario.old is not None and ontario.new is not None
    assert (ontario.old.g_per_kwh, ontario.old.year) == (30, 2022)
    assert (ontario.new.g_per_kwh, ontario.new.year, ontario.new.basis) == (59, 2023, "direct")


def test_it_lists_new_cloud_zones_and_removed_residual_mixes() -> None:
    changes = {c.zone: c for c in factor_changes(OLD, NEW)}
    assert changes["GCP-US-WEST1"].old is None and changes["GCP-US-WEST1"].new is not None
    assert changes["RESIDUAL-AUT"].new is None
    assert "FRA" not in changes or changes["FRA"].old != changes["FRA"].new


def test_it_lists_remapped_and_added_regions() -> None:
    regions = {(r.provider, r.region): r for r in region_changes(OLD, NEW)}
    assert (regions[("gcp", "us-west4")].old_zone, regions[("gcp", "us-west4")].new_zone) == (
        "USA-NWPP",
        "USA-AZNM",
    )
    assert regions[("aws", "ap-east-2")].old_zone is None


def test_the_command_prints_a_markdown_table(db: object) -> None:
    out = StringIO()
    call_command("compare_datasets", "hub-2025.1", stdout=out)
    text = out.getvalue()
    assert "| CAN-ON |" in text and "| gcp | us-west4 |" in text
