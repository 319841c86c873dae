"""Re-apply an emission-factor dataset (shipped, or loaded from a file) to a period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import carbon
from api.aggregates import apply_dataset


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = (
        "Recompute the emissions of measurements in [--start, --end) with the factors of another "
        "dataset version, and rebuild the aggregates. Prints the change per zone; --dry-run writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--dataset", help="a shipped dataset version, e.g. hub-2025.1")
        source.add_argument(
            "--file", help="a dataset folder or file to load (same format as carbon/data/)"
        )
        parser.add_argument("--start", required=True, help="YYYY-MM-DD (inclusive)")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD (exclusive)")
        parser.add_argument("--org", help="only this organisation")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts.get("file"):
            try:
                dataset = carbon.load_dataset_file(opts["file"])
            except (carbon.DatasetError, OSError) as exc:
                raise CommandError(f"cannot load {opts['file']}: {exc}") from exc
        else:
            versions = {d.version for d in carbon.list_datasets()}
            if opts["dataset"] not in versions:
                raise CommandError(
                    f"unknown dataset {opts['dataset']!r}; known: {', '.join(sorted(versions))}"
                )
            dataset = carbon.get_dataset(opts["dataset"])
        self.stdout.write(f"Applying {dataset.version} ({dataset.source}, {dataset.year}).")
        start, end = _date(opts["start"]), _date(opts["end"])
        if end <= start:
            raise CommandError("--end must be after --start")
        result = apply_dataset(dataset, start, end, opts.get("org"), dry_run=opts["dry_run"])
        for zone, (old, new) in sorted(result.zones.items()):
            self.stdout.write(f"  {zone}: {old:.1f} -> {new:.1f} gCO2e/kWh")
        verb = "Would change" if opts["dry_run"] else "Changed"
        self.stdout.write(
            f"{verb} {result.measurements} measurements in {result.projects} projects: "
            f"{result.emissions_before_kg:.3f} kg -> {result.emissions_after_kg:.3f} kg CO2e."
        )
