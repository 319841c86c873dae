"""The hub's data model: tenancy, keys, runs, measurements and their aggregates.

Hierarchy: Organisation -> Project -> Experiment -> Run -> Measurement. Public ids are
UUIDs (``id`` fields); integer primary keys never appear in URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid as uuidlib
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from carbon.accounting import MAX_PUE, MIN_PUE, emissions_kg
from carbon.basis import BASIS_LABELS


def carbon_basis_label(basis: str) -> str:
    """Short label of a factor basis, for pages and reports."""
    return BASIS_LABELS.get(basis, basis)


MEASURED_METHODS = frozenset({"rapl", "nvml_energy", "nvml_power"})
ESTIMATED_METHODS = frozenset({"tdp_model", "constant"})
METHOD_CHOICES = [
    ("rapl", "RAPL energy counter"),
    ("nvml_energy", "NVML energy counter"),
    ("nvml_power", "NVML power, integrated"),
    ("tdp_model", "TDP x utilisation model"),
    ("constant", "constant power model"),
    ("imported", "imported from a file or another tool"),
    ("none", "component absent"),
]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher rank may do everything a lower one may.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class FactorBasis(models.TextChoices):
    """The basis of every figure of an organisation (see ``carbon.basis``)."""

    DIRECT = "direct", "Direct combustion (GHG Protocol Scope 2 convention)"
    LIFECYCLE = "lifecycle", "Lifecycle (includes upstream emissions)"


class OrganisationQuerySet(QuerySet["Organisation"]):
    def for_user(self, user: Any) -> OrganisationQuerySet:
        """Organisations the user is a member of (none for an anonymous user)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(memberships__user_id=user.pk)


class Organisation(models.Model):
    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    # No total mixes bases: every factor applied to this organisation's measurements is
    # on this basis; changing it re-applies the factors (api.aggregates.apply_basis).
    basis = models.CharField(
        max_length=10, choices=FactorBasis.choices, default=FactorBasis.LIFECYCLE
    )
    report_recipients = models.TextField(
        blank=True, help_text="Comma-separated e-mail addresses that receive quarterly reports."
    )
    created = models.DateTimeField(default=timezone.now)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def basis_label(self) -> str:
        """``direct combustion`` or ``lifecycle``: the basis of every figure."""
        return carbon_basis_label(self.basis)

    def recipients(self) -> list[str]:
        return [r.strip() for r in self.report_recipients.split(",") if r.strip()]


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation"], name="api_membership_unique_user_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"

    def can(self, role: str) -> bool:
        """True when this membership's role is at least ``role``."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class Hosting(models.TextChoices):
    CLOUD = "cloud", "Cloud (Scope 3 category 1)"
    OWNED = "owned", "Owned hardware (Scope 2)"
    COLOCATED = "colocated", "Colocated hardware (Scope 2)"


class ProjectQuerySet(QuerySet["Project"]):
    def for_user(self, user: Any) -> ProjectQuerySet:
        """Projects in organisations the user is a member of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(organisation__memberships__user=user)


class Project(models.Model):
    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Location defaults for runs that do not say where they ran.
    country = models.CharField(max_length=3, blank=True)
    region = models.CharField(max_length=20, blank=True)
    cloud_provider = models.CharField(max_length=20, blank=True)
    cloud_region = models.CharField(max_length=40, blank=True)
    pue = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_PUE), MaxValueValidator(MAX_PUE)],
    )
    hosting = models.CharField(max_length=10, choices=Hosting.choices, default=Hosting.CLOUD)
    # Opt-in public read-only link; None means private.
    public_token = models.CharField(max_length=43, null=True, blank=True, unique=True)
    created = models.DateTimeField(default=timezone.now)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="api_project_unique_org_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def default_experiment(self) -> Experiment:
        exp, _ = Experiment.objects.get_or_create(project=self, name="default")
        return exp


class ApiKeyScope(models.TextChoices):
    INGEST = "ingest", "Ingest (write and read its project)"
    READ = "read", "Read only"


KEY_PREFIX = {ApiKeyScope.INGEST: "ehi_", ApiKeyScope.READ: "ehr_"}
# A key is its prefix and secrets.token_urlsafe(KEY_SECRET_BYTES): 43 URL-safe characters.
KEY_SECRET_BYTES = 32
_KEY_SECRET_CHARS = len(secrets.token_urlsafe(KEY_SECRET_BYTES))
KEY_PATTERN = "(?:" + "|".join(KEY_PREFIX.values()) + f")[A-Za-z0-9_-]{{{_KEY_SECRET_CHARS}}}"


def _key_digest(key: str) -> str:
    secret = (getattr(settings, "API_KEY_HMAC_SECRET", "") or settings.SECRET_KEY).encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


class ApiKeyQuerySet(QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        """Keys that have not been revoked."""
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A project key. Only a prefix and an HMAC of the key are stored; the key is shown once."""

    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=10, choices=ApiKeyScope.choices)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope}, {self.project})"

    @classmethod
    def issue(
        cls, project: Project, scope: str, name: str = "", created_by: Any = None
    ) -> tuple[ApiKey, str]:
        """Create a key; return the model and the plain key, which is never stored."""
        plain = KEY_PREFIX[ApiKeyScope(scope)] + secrets.token_urlsafe(KEY_SECRET_BYTES)
        key = cls.objects.create(
            project=project,
            scope=scope,
            name=name,
            prefix=plain[:12],
            digest=_key_digest(plain),
            created_by=created_by,
        )
        return key, plain

    @classmethod
    def lookup(cls, plain: str) -> ApiKey | None:
        """Find the active key for a presented plain key, comparing in constant time."""
        if len(plain) < 20:
            return None
        key = (
            cls.objects.active()
            .select_related("project__organisation")
            .filter(prefix=plain[:12])
            .first()
        )
        if key is None or not hmac.compare_digest(key.digest, _key_digest(plain)):
            return None
        return key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


class Experiment(models.Model):
    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    country = models.CharField(max_length=3, blank=True)
    region = models.CharField(max_length=20, blank=True)
    cloud_provider = models.CharField(max_length=20, blank=True)
    cloud_region = models.CharField(max_length=40, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="api_experiment_unique_project_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    LOST = "lost", "Lost (stopped reporting)"


class RunSource(models.TextChoices):
    CLIENT = "tracker_client", "tracker_client"
    CODECARBON = "codecarbon", "CodeCarbon client"
    IMPORT = "import", "Imported file"


class EmissionFactor(models.Model):
    """One factor of one dataset as applied by the hub: the provenance of every gram."""

    class Kind(models.TextChoices):
        LOCATION = "location", "Location-based grid average"
        RESIDUAL = "residual", "Residual mix"

    dataset_version = models.CharField(max_length=40)
    zone = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOCATION)
    basis = models.CharField(
        max_length=10, choices=FactorBasis.choices, default=FactorBasis.LIFECYCLE
    )
    g_per_kwh = models.FloatField()
    # The year the figure is for (not the year it was published).
    year = models.IntegerField()
    # Provenance is never cut short: an auditor reads the whole source and licence.
    source = models.TextField()
    licence = models.TextField(blank=True)
    url = models.URLField(max_length=500, blank=True)
    is_fallback = models.BooleanField(default=False)
    # Set when the source published the other basis and the hub converted it; note says how.
    derived = models.BooleanField(default=False)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset_version", "zone", "kind", "basis"],
                name="api_emissionfactor_unique_version_zone_kind_basis",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.zone} {self.g_per_kwh:.0f} g/kWh {self.basis} "
            f"({self.dataset_version}, {self.year})"
        )

    @property
    def basis_label(self) -> str:
        """``direct combustion`` or ``lifecycle``."""
        return carbon_basis_label(self.basis)


def started_between(start: datetime | None, end: datetime | None, relation: str = "") -> Q:
    """The one rule "runs that started in [start, end)" (an open end unbounded), as a
    condition; ``relation`` reaches runs from another model (e.g. an experiment's
    ``runs``), where the condition filters the related set."""
    prefix = f"{relation}__" if relation else ""
    window = Q()
    if start is not None:
        window &= Q(**{f"{prefix}started_at__gte": start})
    if end is not None:
        window &= Q(**{f"{prefix}started_at__lt": end})
    return window


class RunQuerySet(QuerySet["Run"]):
    def for_project(self, project: Project) -> RunQuerySet:
        """Runs of one project."""
        return self.filter(project=project)

    def visible_to(self, projects: QuerySet[Project]) -> RunQuerySet:
        """Runs of the given (already permission-filtered) projects."""
        return self.filter(project__in=projects)

    def started_between(self, start: datetime | None, end: datetime | None) -> RunQuerySet:
        """Runs that started in [start, end); an open end is unbounded."""
        return self.filter(started_between(start, end))

    def totals(self) -> dict[str, Any]:
        """Energy, emissions and counts over these runs, read from per-run totals."""
        return self.aggregate(
            energy_kwh=Sum("energy_kwh"),
            emissions_kg=Sum("emissions_kg"),
            gpu_hours=Sum("gpu_hours"),
            measured_energy_kwh=Sum("measured_energy_kwh"),
            measurement_count=Sum("measurement_count"),
            run_count=models.Count("id"),
        )


class Run(models.Model):
    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    run_key = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    source = models.CharField(max_length=20, choices=RunSource.choices, default=RunSource.CLIENT)
    created = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    hardware = models.JSONField(default=dict, blank=True)
    software = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    node_count = models.PositiveIntegerField(default=1)
    rank_count = models.PositiveIntegerField(default=1)
    # Location as given and as resolved.
    country = models.CharField(max_length=3, blank=True)
    region = models.CharField(max_length=20, blank=True)
    cloud_provider = models.CharField(max_length=20, blank=True)
    cloud_region = models.CharField(max_length=40, blank=True)
    zone = models.CharField(max_length=40)
    zone_label = models.CharField(max_length=200)
    location_known = models.BooleanField(default=True)
    pue = models.FloatField()
    factor = models.ForeignKey(EmissionFactor, on_delete=models.PROTECT, related_name="runs")
    epochs_total = models.PositiveIntegerField(null=True, blank=True)
    epochs_done = models.PositiveIntegerField(null=True, blank=True)
    predicted_energy_kwh = models.FloatField(null=True, blank=True)
    predicted_emissions_kg = models.FloatField(null=True, blank=True)
    # Totals kept current at ingestion (IT energy, before PUE; emissions include PUE).
    energy_kwh = models.FloatField(default=0.0)
    cpu_energy_kwh = models.FloatField(default=0.0)
    gpu_energy_kwh = models.FloatField(default=0.0)
    ram_energy_kwh = models.FloatField(default=0.0)
    measured_energy_kwh = models.FloatField(default=0.0)
    # Energy taken from files of other tools, whose method is unknown: neither measured
    # nor estimated, as in the project and organisation summaries.
    imported_energy_kwh = models.FloatField(default=0.0)
    emissions_kg = models.FloatField(default=0.0)
    client_emissions_kg = models.FloatField(null=True, blank=True)
    duration_s = models.FloatField(default=0.0)
    gpu_hours = models.FloatField(default=0.0)
    measurement_count = models.PositiveIntegerField(default=0)
    first_start = models.DateTimeField(null=True, blank=True)
    last_end = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "run_key"], name="api_run_unique_project_run_key"
            ),
        ]
        indexes = [
            # Runs of an experiment or project, newest first (run lists, experiment page).
            models.Index(fields=["experiment", "-started_at"], name="api_run_experiment_started"),
            models.Index(fields=["project", "-started_at"], name="api_run_project_started"),
            # The lost-run sweep only looks at running runs. No index of this table holds a
            # column that ingestion changes on every post (totals, last_seen_at), so those
            # updates are HOT (heap-only) on PostgreSQL and rewrite no index entry.
            models.Index(fields=["status"], name="api_run_running", condition=Q(status="running")),
        ]

    def __str__(self) -> str:
        return self.name or self.run_key

    # --- lifecycle ---------------------------------------------------------------------

    def finish(self, status: str, metrics: dict[str, Any] | None, ended_at: datetime | None) -> Run:
        """Close the run; finishing twice is harmless, later metrics are merged in.

        A run with measurements ends when its last measurement ends, whatever ``ended_at``
        the client sends (its own clock, and a moment after its last interval, would make
        the run's times disagree with its measurements'). A run without measurements ends
        at the given ``ended_at``, else at the time it is finished, never before it started.
        Raises ``api.schema.Invalid`` for an end before the start.
        """
        from api.schema import Invalid

        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=self.pk)
            if ended_at is not None and ended_at < locked.started_at:
                raise Invalid(
                    "ended_at is before the run started",
                    {"ended_at": f"is before started_at ({locked.started_at.isoformat()})"},
                )
            locked.status = status
            if locked.last_end is not None:
                locked.ended_at = locked.last_end
            else:
                end = ended_at or locked.ended_at or timezone.now()
                locked.ended_at = max(end, locked.started_at)
            if metrics:
                locked.metrics = {**locked.metrics, **metrics}
            locked.save(update_fields=["status", "ended_at", "metrics"])
        self.refresh_from_db()
        return self

    def record_prediction(
        self, epochs_done: int, epochs_total: int, predicted_energy_kwh: float
    ) -> Run:
        """Store the client's prediction of the run's whole energy and its emissions."""
        self.epochs_done = epochs_done
        self.epochs_total = epochs_total
        self.predicted_energy_kwh = predicted_energy_kwh
        self.predicted_emissions_kg = emissions_kg(
            predicted_energy_kwh, self.pue, self.factor.g_per_kwh
        )
        self.save(
            update_fields=[
                "epochs_done",
                "epochs_total",
                "predicted_energy_kwh",
                "predicted_emissions_kg",
            ]
        )
        return self

    @property
    def estimated_energy_kwh(self) -> float:
        """Modelled energy: neither measured nor imported (the summaries' definition)."""
        return max(self.energy_kwh - self.measured_energy_kwh - self.imported_energy_kwh, 0.0)

    @property
    def intensity_g_per_kwh(self) -> float:
        return self.factor.g_per_kwh

    @property
    def wall_duration_s(self) -> float:
        """Seconds from the run's start to its end, or, while it runs, to its last
        measurement: what every page and API answer gives as its duration."""
        end = self.ended_at if self.ended_at is not None else self.last_end
        return max((end - self.started_at).total_seconds(), 0.0) if end is not None else 0.0


class Measurement(models.Model):
    """One interval of one process (rank) on one node."""

    # Unique per run, not hub-wide: one tenant's ids must never block or reveal another's.
    uuid = models.UUIDField()
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="measurements")
    node = models.CharField(max_length=200, blank=True)
    rank = models.PositiveIntegerField(default=0)
    seq = models.PositiveBigIntegerField(default=0)
    start = models.DateTimeField()
    end = models.DateTimeField()
    duration_s = models.FloatField()
    cpu_energy_kwh = models.FloatField(default=0.0)
    gpu_energy_kwh = models.FloatField(default=0.0)
    ram_energy_kwh = models.FloatField(default=0.0)
    cpu_power_w = models.FloatField(null=True, blank=True)
    gpu_power_w = models.FloatField(null=True, blank=True)
    ram_power_w = models.FloatField(null=True, blank=True)
    cpu_utilization_pct = models.FloatField(null=True, blank=True)
    gpu_utilization_pct = models.FloatField(null=True, blank=True)
    ram_utilization_pct = models.FloatField(null=True, blank=True)
    cpu_method = models.CharField(max_length=12, choices=METHOD_CHOICES, default="none")
    gpu_method = models.CharField(max_length=12, choices=METHOD_CHOICES, default="none")
    ram_method = models.CharField(max_length=12, choices=METHOD_CHOICES, default="none")
    gpu_count = models.PositiveIntegerField(default=0)
    epoch = models.PositiveIntegerField(null=True, blank=True)
    pue = models.FloatField()
    intensity_g_per_kwh = models.FloatField()
    emissions_kg = models.FloatField()
    factor = models.ForeignKey(
        EmissionFactor, on_delete=models.PROTECT, related_name="measurements"
    )
    # What a foreign client (CodeCarbon) computed itself, kept beside the hub's figure.
    client_intensity_g_per_kwh = models.FloatField(null=True, blank=True)
    client_emissions_kg = models.FloatField(null=True, blank=True)
    received = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # The table's one index. Idempotent ingestion: a resent interval of a run (the
            # same uuid and start) is skipped by ON CONFLICT; and a run's measurements in time
            # order (the run page). On PostgreSQL the table is partitioned by month of
            # ``start`` (api.partitions), and a unique key there must hold the partition key.
            models.UniqueConstraint(
                fields=["run", "start", "uuid"], name="api_measurement_unique_run_start_uuid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.uuid} ({self.duration_s:g} s)"

    @property
    def energy_kwh(self) -> float:
        return self.cpu_energy_kwh + self.gpu_energy_kwh + self.ram_energy_kwh


class UsageHourQuerySet(QuerySet["UsageHour"]):
    def between(self, start: datetime | None, end: datetime | None) -> UsageHourQuerySet:
        """Hours in [start, end)."""
        qs = self
        if start is not None:
            qs = qs.filter(hour__gte=start)
        if end is not None:
            qs = qs.filter(hour__lt=end)
        return qs

    def totals(self) -> dict[str, Any]:
        """Sums of every quantity over these rows."""
        return self.aggregate(**usage_sums())


def usage_sums() -> dict[str, Sum]:
    """``Sum`` of every UsageHour quantity, for aggregate() and annotate()."""
    return {f: Sum(f) for f in USAGE_FIELDS}


USAGE_FIELDS = (
    "energy_kwh",
    "cpu_energy_kwh",
    "gpu_energy_kwh",
    "ram_energy_kwh",
    "measured_energy_kwh",
    "imported_energy_kwh",
    "facility_energy_kwh",
    "emissions_kg",
    "gpu_hours",
    "duration_s",
    "measurement_count",
)


class UsageHour(models.Model):
    """Aggregate per project, UTC hour, zone, provider and factor.

    A measurement that spans several hours is split across them in proportion to time
    (``api.sums.hour_rows``); its ``measurement_count`` is counted in its start hour.

    Kept current at ingestion by an additive upsert, so pages and reports read these rows
    rather than raw measurements. Day, week, month and quarter figures are sums of hours.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="usage_hours")
    hour = models.DateTimeField()
    zone = models.CharField(max_length=40)
    cloud_provider = models.CharField(max_length=20, blank=True)
    cloud_region = models.CharField(max_length=40, blank=True)
    factor = models.ForeignKey(EmissionFactor, on_delete=models.PROTECT, related_name="usage_hours")
    pue = models.FloatField()
    location_known = models.BooleanField(default=True)
    energy_kwh = models.FloatField(default=0.0)
    cpu_energy_kwh = models.FloatField(default=0.0)
    gpu_energy_kwh = models.FloatField(default=0.0)
    ram_energy_kwh = models.FloatField(default=0.0)
    measured_energy_kwh = models.FloatField(default=0.0)
    imported_energy_kwh = models.FloatField(default=0.0)
    facility_energy_kwh = models.FloatField(default=0.0)
    emissions_kg = models.FloatField(default=0.0)
    gpu_hours = models.FloatField(default=0.0)
    duration_s = models.FloatField(default=0.0)
    measurement_count = models.PositiveIntegerField(default=0)

    objects = UsageHourQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "project",
                    "hour",
                    "zone",
                    "cloud_provider",
                    "cloud_region",
                    "factor",
                    "pue",
                ],
                name="api_usagehour_unique_key",
            ),
        ]
        indexes = [
            # Project and organisation pages and reports: a project's hours in a range.
            models.Index(fields=["project", "hour"], name="api_usagehour_project_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.hour:%Y-%m-%d %H}h {self.zone}"


# Records of imported files live in their own module; imported here so the app registry sees them.
from api.models_imports import ImportedFile, ImportFormat  # noqa: E402, F401
from api.models_partitions import DroppedPartition  # noqa: E402, F401
