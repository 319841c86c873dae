"""Recompute hourly aggregates and run totals from raw measurements.

Needed once after upgrading to a hub that splits measurements across the hours they span
and takes a run's start and end from its measurements: aggregates written before keep the
old hour of each interval until rebuilt. Also repairs aggregates after manual edits.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from api.aggregates import rebuild_project
from api.models import Project


class Command(BaseCommand):
    help = "Rebuild the hourly aggregates and run totals of every project (or of one organisation)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="only the projects of this organisation (name)")

    def handle(self, *args: Any, **opts: Any) -> None:
        projects = Project.objects.select_related("organisation").order_by("pk")
        if opts.get("org"):
            projects = projects.filter(organisation__name=opts["org"])
        total = 0
        for project in projects:
            hours = rebuild_project(project.pk)
            total += 1
            self.stdout.write(f"{project.organisation.name} / {project.name}: {hours} hour rows")
        self.stdout.write(f"Rebuilt {total} projects.")
