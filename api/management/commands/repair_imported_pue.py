"""Bring CodeCarbon files imported before the PUE fix back to IT energy.

Before hub 0.1 counted a CodeCarbon file's PUE, an ``emissions.csv`` written with
CodeCarbon's ``pue`` above 1 was stored with that PUE already inside its energies, and the
hub applied its own PUE on top. Such runs carry ``params["codecarbon_pue"]`` and no
``params["source_pue"]``. This command divides their measurements' energies by that PUE,
recomputes their emissions and rebuilds the aggregates of their projects; a repaired run
records what was done (``source_pue``), so running it twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import F

from api.aggregates import rebuild_project
from api.importers.common import pue_to_repair
from api.models import Measurement, Run


class Command(BaseCommand):
    help = (
        "Divide the energies of CodeCarbon runs imported with a CodeCarbon PUE above 1 (before "
        "the hub counted it) by that PUE, and rebuild the aggregates. --dry-run writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        # The importer refuses to add rows to such a run until it is repaired, so every
        # measurement of it still holds CodeCarbon's PUE and is divided exactly once.
        runs = [
            (run, pue)
            for run in Run.objects.filter(params__has_key="codecarbon_pue")
            if (pue := pue_to_repair(run)) is not None
        ]
        if not runs:
            self.stdout.write("No imported run holds a CodeCarbon PUE twice; nothing to repair.")
            return
        projects: set[int] = set()
        with transaction.atomic():
            for run, pue in runs:
                before = run.energy_kwh
                Measurement.objects.filter(run=run).update(
                    cpu_energy_kwh=F("cpu_energy_kwh") / pue,
                    gpu_energy_kwh=F("gpu_energy_kwh") / pue,
                    ram_energy_kwh=F("ram_energy_kwh") / pue,
                    emissions_kg=F("emissions_kg") / pue,
                )
                run.params["source_pue"] = {
                    "tool": "CodeCarbon",
                    "pue": pue,
                    "stated": "the file's pue column (repaired by repair_imported_pue)",
                    "divided": True,
                    "powers_divided": False,
                    "note": f"CodeCarbon multiplied its energies by its PUE {pue:g}; the hub "
                    f"divided them by {pue:g} to get IT energy before applying its own PUE.",
                }
                run.save(update_fields=["params"])
                projects.add(run.project_id)
                self.stdout.write(
                    f"{run.project.name} / {run.name or run.run_key}: {before:.6f} kWh -> "
                    f"{before / pue:.6f} kWh IT energy (CodeCarbon PUE {pue:g})"
                )
            for pk in sorted(projects):
                rebuild_project(pk)
            if opts["dry_run"]:
                transaction.set_rollback(True)
        verb = "Would repair" if opts["dry_run"] else "Repaired"
        self.stdout.write(f"{verb} {len(runs)} runs in {len(projects)} projects.")
