"""Report records, their rendered files, contractual instruments and embodied footprints.

A ``Report`` is the request (organisation, period, scope) and the state of its
generation; ``ReportFile`` holds the rendered bytes of each format, so downloads can be
checked against the reader's membership rather than served from a public media URL.
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from api.models import Organisation, Project


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReportFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    CSV = "csv", "CSV (detail rows)"
    XLSX = "xlsx", "Excel workbook"
    JSON = "json", "JSON"


CONTENT_TYPES = {
    ReportFormat.PDF: "application/pdf",
    ReportFormat.CSV: "text/csv; charset=utf-8",
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.JSON: "application/json",
}


class ReportQuerySet(QuerySet["Report"]):
    def for_user(self, user: Any) -> ReportQuerySet:
        """Reports of organisations the user is a member of (any role)."""
        return self.filter(organisation__in=Organisation.objects.for_user(user))


class Report(models.Model):
    """One report of one organisation over [period_start, period_end)."""

    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="reports")
    title = models.CharField(max_length=200)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # Scope: every project of the organisation at generation time, or the chosen ones.
    all_projects = models.BooleanField(default=True)
    projects = models.ManyToManyField(Project, blank=True, related_name="reports")
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    progress_pct = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    dataset_versions = models.JSONField(default=list, blank=True)
    # SHA-256 of the canonical JSON of the figures (no timestamps or ids): two reports
    # of the same inputs and data have the same checksum.
    data_sha256 = models.CharField(max_length=64, blank=True)
    # Made by the quarterly schedule (one per organisation and quarter) and e-mailed.
    scheduled = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")),
                name="reports_report_period_order",
            ),
            # The beat task creates at most one scheduled report per organisation and period.
            models.UniqueConstraint(
                fields=["organisation", "period_start", "period_end"],
                condition=Q(scheduled=True),
                name="reports_report_unique_scheduled",
            ),
        ]
        indexes = [
            # Report list of an organisation, newest first.
            models.Index(fields=["organisation", "-created"], name="reports_report_org_created"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.organisation})"

    def scope_projects(self) -> QuerySet[Project]:
        """The projects this report covers."""
        if self.all_projects:
            return Project.objects.filter(organisation=self.organisation)
        return self.projects.filter(organisation=self.organisation)

    @property
    def last_day(self) -> date:
        """The last day the period includes (the end itself is excluded)."""
        return (self.period_end - timedelta(microseconds=1)).date()

    @property
    def is_finished(self) -> bool:
        return self.status in (ReportStatus.DONE, ReportStatus.FAILED)


class ReportFile(models.Model):
    """The rendered bytes of one format of a report, with their checksum."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="files")
    format = models.CharField(max_length=5, choices=ReportFormat.choices)
    content = models.BinaryField()
    size_bytes = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["report", "format"], name="reports_reportfile_unique_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report} .{self.format}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[ReportFormat(self.format)]


class InstrumentKind(models.TextChoices):
    PPA = "ppa", "Power purchase agreement (PPA)"
    REC = "rec", "Renewable energy certificate (REC)"
    GO = "go", "Guarantee of origin (GO)"


class ContractualInstrumentQuerySet(QuerySet["ContractualInstrument"]):
    def overlapping(self, start: datetime, end: datetime) -> ContractualInstrumentQuerySet:
        """Instruments whose days may overlap [start, end); callers prorate exactly."""
        return self.filter(period_start__lte=end.date(), period_end__gte=start.date())


class ContractualInstrument(models.Model):
    """A contract or certificate that lets market-based Scope 2 use its own factor.

    Covers either a quantity (``mwh``) or a share of the consumption in the zone
    (``share_pct``) over [period_start, period_end] (whole days, both included).
    """

    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="instruments"
    )
    kind = models.CharField(max_length=3, choices=InstrumentKind.choices)
    zone = models.CharField(max_length=40, help_text="Grid zone id, e.g. FRA, USA-CAMX, CAN-QC.")
    period_start = models.DateField()
    period_end = models.DateField(help_text="Last day covered (included).")
    mwh = models.FloatField(null=True, blank=True, help_text="Energy covered, MWh.")
    share_pct = models.FloatField(
        null=True, blank=True, help_text="Share of the zone's consumption covered, %."
    )
    g_per_kwh = models.FloatField(
        default=0.0, help_text="Emission factor of the instrument (0 for renewables)."
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)

    objects = ContractualInstrumentQuerySet.as_manager()

    class Meta:
        ordering = ["zone", "period_start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(mwh__isnull=False, share_pct__isnull=True)
                    | Q(mwh__isnull=True, share_pct__isnull=False)
                ),
                name="reports_instrument_mwh_xor_share",
            ),
            models.CheckConstraint(
                condition=Q(mwh__isnull=True) | Q(mwh__gte=0),
                name="reports_instrument_mwh_positive",
            ),
            models.CheckConstraint(
                condition=Q(share_pct__isnull=True) | Q(share_pct__gte=0, share_pct__lte=100),
                name="reports_instrument_share_range",
            ),
            models.CheckConstraint(
                condition=Q(g_per_kwh__gte=0), name="reports_instrument_factor_positive"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="reports_instrument_period_order",
            ),
        ]
        indexes = [
            # Instruments of an organisation overlapping a report's period.
            models.Index(
                fields=["organisation", "period_start"], name="reports_instrument_org_start"
            ),
        ]

    def __str__(self) -> str:
        amount = f"{self.mwh:g} MWh" if self.mwh is not None else f"{self.share_pct:g} %"
        return f"{self.get_kind_display()} {self.zone} {amount} ({self.period_start}..{self.period_end})"

    @property
    def start_dt(self) -> datetime:
        return datetime.combine(self.period_start, datetime.min.time(), tzinfo=UTC)

    @property
    def end_dt(self) -> datetime:
        """Exclusive end: the day after the last day covered."""
        return datetime.combine(
            date.fromordinal(self.period_end.toordinal() + 1), datetime.min.time(), tzinfo=UTC
        )


class HardwareFootprint(models.Model):
    """Embodied emissions of one hardware model, for the SCI ``M`` term.

    Nothing is shipped: a figure appears only once someone records it with its source,
    otherwise statements say "embodied emissions not configured".
    """

    model_name = models.CharField(
        max_length=200,
        unique=True,
        help_text="GPU or server model as reported in run hardware (gpu_model).",
    )
    embodied_kg = models.FloatField(help_text="Total embodied emissions of one unit, kg CO2e.")
    lifetime_hours = models.FloatField(help_text="Expected lifetime of one unit, hours.")
    source = models.CharField(
        max_length=300, help_text="Where the figure comes from (publication, year)."
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(embodied_kg__gte=0), name="reports_footprint_kg_positive"
            ),
            models.CheckConstraint(
                condition=Q(lifetime_hours__gt=0), name="reports_footprint_lifetime_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name}: {self.embodied_kg:g} kg over {self.lifetime_hours:g} h"
