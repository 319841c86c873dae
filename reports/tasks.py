"""Celery tasks: generate a report, and the quarterly schedule that creates them.

Tasks take ids, claim their work with a conditional ``update()`` (so a duplicate
delivery does nothing) and have soft and hard time limits.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from api.models import Organisation
from api.periods import Period, custom
from reports.generate import generate
from reports.models import Report, ReportFile, ReportFormat, ReportStatus
from reports.periods import last_closed_quarter

log = logging.getLogger(__name__)

# A quarter of a large organisation takes seconds; these leave ample room.
SOFT_LIMIT_S = 600
HARD_LIMIT_S = 660
# Formats attached to the quarterly e-mail (the CSV and JSON are available by link).
EMAIL_ATTACH = (ReportFormat.PDF, ReportFormat.XLSX)


def dispatch(report: Report) -> None:
    """Queue generation once the report row is committed."""
    report_id = report.pk
    transaction.on_commit(lambda: generate_report.delay(report_id))


@shared_task(soft_time_limit=SOFT_LIMIT_S, time_limit=HARD_LIMIT_S, ignore_result=True)
def generate_report(report_id: int) -> str:
    """Generate a queued report; a report already claimed or finished is left alone."""
    claimed = Report.objects.filter(pk=report_id, status=ReportStatus.QUEUED).update(
        status=ReportStatus.RUNNING,
        started_at=timezone.now(),
        progress_pct=1,
        progress_message="Starting",
        error="",
    )
    if not claimed:
        return "skipped"
    report = Report.objects.select_related("organisation").get(pk=report_id)
    try:
        generate(report)
    except SoftTimeLimitExceeded:
        _fail(report, f"Took longer than {SOFT_LIMIT_S} s and was stopped.")
        raise
    except Exception as exc:
        log.exception("report %s failed", report.uuid)
        _fail(report, f"{type(exc).__name__}: {exc}")
        return "failed"
    Report.objects.filter(pk=report_id).update(status=ReportStatus.DONE, finished_at=timezone.now())
    if report.scheduled:
        email_report(report_id)
    return "done"


def _fail(report: Report, message: str) -> None:
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.FAILED,
        finished_at=timezone.now(),
        error=message[:2000],
        progress_message="Failed",
    )


def email_report(report_id: int) -> bool:
    """Send a finished report to the organisation's recipients, once."""
    report = Report.objects.select_related("organisation").get(pk=report_id)
    recipients = report.organisation.recipients()
    if report.status != ReportStatus.DONE or not recipients:
        return False
    if not Report.objects.filter(pk=report_id, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    ):
        return False  # already sent
    link = settings.SITE_URL + reverse("reports:detail", args=[report.uuid])
    body = (
        f"The carbon report of {report.organisation.name} for {report.title} is ready.\n\n"
        f"Open it, with its CSV and JSON versions: {link}\n"
        f"Data checksum (SHA-256): {report.data_sha256}\n\n"
        "The PDF and the Excel workbook are attached. You receive this because you are listed "
        "as a report recipient of the organisation in Emissions Hub."
    )
    msg = EmailMessage(
        subject=f"[Emissions Hub] {report.title}: {report.organisation.name}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    for f in ReportFile.objects.filter(report=report, format__in=EMAIL_ATTACH).order_by("format"):
        msg.attach(filename_for(report, f.format), bytes(f.content), f.content_type)
    try:
        msg.send()
    except Exception:
        Report.objects.filter(pk=report_id).update(emailed_at=None)  # let the next sweep retry
        raise
    return True


def filename_for(report: Report, fmt: str) -> str:
    def slug(text: str) -> str:
        return "-".join("".join(ch if ch.isalnum() else " " for ch in text).lower().split())

    label = custom(report.period_start, report.period_end).label
    return f"carbon-report-{slug(report.organisation.name)}-{slug(label)}.{fmt}"


def create_scheduled(org: Organisation, period: Period) -> Report | None:
    """The scheduled report of that organisation and period, created once; None if it exists."""
    if Report.objects.filter(
        organisation=org, period_start=period.start, period_end=period.end, scheduled=True
    ).exists():
        return None
    try:
        with transaction.atomic():
            report = Report.objects.create(
                organisation=org,
                title=f"Quarterly report {period.label}",
                period_start=period.start,
                period_end=period.end,
                all_projects=True,
                scheduled=True,
            )
            dispatch(report)
    except IntegrityError:
        return None  # another beat tick created it a moment ago
    return report


@shared_task(soft_time_limit=120, time_limit=180, ignore_result=True)
def schedule_quarterly_reports(now_iso: str | None = None) -> int:
    """Create last quarter's report for every organisation that lacks it; retry e-mails.

    Safe to run as often as wanted (daily by celery beat): the unique constraint on
    scheduled reports and the ``emailed_at`` claim make it idempotent.
    """
    now = datetime.fromisoformat(now_iso) if now_iso else timezone.now()
    period = last_closed_quarter(now)
    created = 0
    for org in Organisation.objects.order_by("id"):
        if create_scheduled(org, period) is not None:
            created += 1
    for report_id in Report.objects.filter(
        scheduled=True, status=ReportStatus.DONE, emailed_at__isnull=True
    ).values_list("pk", flat=True):
        email_report(report_id)
    return created
