"""``manage.py generate_report --org NAME --quarter 2026Q3 [--format pdf] [--out DIR]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from api.models import Organisation
from api.periods import parse_quarter
from reports.generate import generate
from reports.models import Report, ReportFile, ReportFormat, ReportStatus
from reports.tasks import filename_for


class Command(BaseCommand):
    help = (
        "Generate an organisation's report for a quarter now, in this process, and write its files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation name")
        parser.add_argument("--quarter", required=True, help="e.g. 2026Q3")
        parser.add_argument(
            "--format",
            action="append",
            choices=ReportFormat.values,
            help="formats to write (default: all)",
        )
        parser.add_argument(
            "--out", default=".", help="folder for the files (default: current folder)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        org = Organisation.objects.filter(name=opts["org"]).first()
        if org is None:
            raise CommandError(f"No organisation named {opts['org']!r}.")
        try:
            period = parse_quarter(opts["quarter"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with transaction.atomic():
            report = Report.objects.create(
                organisation=org,
                title=f"Report {period.label}",
                period_start=period.start,
                period_end=period.end,
                status=ReportStatus.RUNNING,
                started_at=timezone.now(),
            )
        try:
            generate(report)
        except Exception as exc:
            Report.objects.filter(pk=report.pk).update(
                status=ReportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
            )
            raise CommandError(f"Report failed: {exc}") from exc
        Report.objects.filter(pk=report.pk).update(
            status=ReportStatus.DONE, finished_at=timezone.now()
        )
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        for f in ReportFile.objects.filter(
            report=report, format__in=opts["format"] or ReportFormat.values
        ):
            path = out / filename_for(report, f.format)
            path.write_bytes(bytes(f.content))
            self.stdout.write(f"{path} ({f.size_bytes:,} bytes)")
        self.stdout.write(f"Report {report.uuid}: data SHA-256 {report.data_sha256}")
