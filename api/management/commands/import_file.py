"""``manage.py import_file --org NAME --project NAME [--format F] PATH...``"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.importers import FORMATS, ImportRefused, import_file
from api.models import Project


class Command(BaseCommand):
    help = (
        "Import CodeCarbon emissions.csv, CarbonTracker output logs or Eco2AI CSV files into a "
        "project. Importing the same file again adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--org", required=True, help="organisation name")
        parser.add_argument("--project", required=True, help="project name in that organisation")
        parser.add_argument(
            "--format", choices=FORMATS, help="detected from the content when omitted"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = (
            Project.objects.filter(organisation__name=options["org"], name=options["project"])
            .select_related("organisation")
            .first()
        )
        if project is None:
            raise CommandError(
                f"No project {options['project']!r} in organisation {options['org']!r}."
            )
        refused = 0
        for name in options["paths"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            try:
                report = import_file(
                    project, path.read_bytes(), filename=path.name, fmt=options["format"]
                )
            except ImportRefused as exc:
                self.stderr.write(f"{path}: {exc}")
                refused += 1
                continue
            self.stdout.write(
                f"{path}: {report.format}: {report.accepted} imported, {report.duplicates} already there, "
                f"{len(report.skipped)} skipped, {len(report.runs)} run(s)"
            )
            for skipped in report.skipped:
                self.stdout.write(f"  line {skipped.line}: {skipped.reason}")
        if refused:
            raise CommandError(f"{refused} file(s) could not be imported")
