"""Generate a report: collect the figures, render every format, store the files.

Called by the Celery task (``reports.tasks.generate_report``), the management command
and the benchmark; it never claims the report itself (the task does).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from api.periods import Period
from reports.build import build_report_data, data_checksum
from reports.models import Report, ReportFile, ReportFormat
from reports.pdf import render_pdf
from reports.renderers import render_csv, render_json, render_xlsx

RENDERERS: dict[str, Callable[[dict[str, Any], dict[str, Any], str], bytes]] = {
    ReportFormat.JSON: render_json,
    ReportFormat.CSV: lambda data, meta, checksum: render_csv(data),
    ReportFormat.XLSX: render_xlsx,
    ReportFormat.PDF: render_pdf,
}


def set_progress(report: Report, pct: int, message: str) -> None:
    """Record progress outside any transaction so the status endpoint sees it at once."""
    Report.objects.filter(pk=report.pk).update(progress_pct=pct, progress_message=message[:200])
    report.progress_pct, report.progress_message = pct, message


def period_of(report: Report) -> Period:
    from api.periods import custom

    return custom(report.period_start, report.period_end)


def generate(report: Report, formats: list[str] | None = None) -> dict[str, Any]:
    """Build and store the report's files; return the figures. Raises on failure."""
    started = time.perf_counter()
    data = build_report_data(
        report.organisation,
        report.scope_projects(),
        report.all_projects,
        period_of(report),
        progress=lambda pct, msg: set_progress(report, pct, msg),
    )
    checksum = data_checksum(data)
    meta = {
        "report_id": str(report.uuid),
        "title": report.title,
        "generated_at": timezone.now().isoformat(),
        "generator": "Emissions Hub reports",
    }
    files: list[ReportFile] = []
    wanted = formats or [f.value for f in ReportFormat]
    for n, fmt in enumerate(wanted):
        set_progress(report, 90 + int(10 * n / len(wanted)), f"Rendering {fmt.upper()}")
        content = RENDERERS[fmt](data, meta, checksum)
        files.append(
            ReportFile(
                report=report,
                format=fmt,
                content=content,
                size_bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
        )
    with transaction.atomic():
        ReportFile.objects.filter(report=report).delete()
        ReportFile.objects.bulk_create(files)
        Report.objects.filter(pk=report.pk).update(
            data_sha256=checksum,
            dataset_versions=[d["version"] for d in data["datasets"]],
            progress_pct=100,
            progress_message=f"Done in {time.perf_counter() - started:.1f} s",
        )
    report.refresh_from_db()
    return data
