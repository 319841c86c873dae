from __future__ import annotations

from typing import Any

from django.core import mail

from reports.models import Report
from reports.schedule import BEAT_SCHEDULE
from reports.tasks import generate_report, schedule_quarterly_reports
from tests.cast import Cast
from tests.reports.seed_reports import seed


def test_after_a_quarter_closes_every_organisation_gets_its_report_by_email(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    seed(cast)
    cast.org.report_recipients = "cso@acme.test, auditor@acme.test"
    cast.org.save()
    with django_capture_on_commit_callbacks(execute=True):
        created = schedule_quarterly_reports("2026-10-01T02:00:00+00:00")
    assert created == 2  # both organisations
    report = Report.objects.get(organisation=cast.org)
    assert (
        report.scheduled and report.status == "done" and report.title == "Quarterly report 2026Q3"
    )
    assert len(mail.outbox) == 1  # the other organisation has no recipients
    msg = mail.outbox[0]
    assert msg.to == ["cso@acme.test", "auditor@acme.test"]
    assert "2026Q3" in msg.subject and str(report.uuid) in msg.body
    names = sorted(a[0] for a in msg.attachments)
    assert names == ["carbon-report-acme-ai-2026q3.pdf", "carbon-report-acme-ai-2026q3.xlsx"]


def test_the_schedule_is_idempotent(cast: Cast, django_capture_on_commit_callbacks: Any) -> None:
    cast.org.report_recipients = "cso@acme.test"
    cast.org.save()
    with django_capture_on_commit_callbacks(execute=True):
        schedule_quarterly_reports("2026-10-02T02:00:00+00:00")
    with django_capture_on_commit_callbacks(execute=True):
        again = schedule_quarterly_reports("2026-10-03T02:00:00+00:00")
    assert again == 0
    assert Report.objects.count() == 2
    assert len(mail.outbox) == 1
    # A duplicate delivery of the generation task does nothing.
    report = Report.objects.get(organisation=cast.org)
    assert generate_report(report.pk) == "skipped"


def test_the_beat_entry_runs_the_schedule_task_daily() -> None:
    entry = BEAT_SCHEDULE["reports-quarterly"]
    assert entry["task"] == "reports.tasks.schedule_quarterly_reports"
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {0}
