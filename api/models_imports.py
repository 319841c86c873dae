"""Records of imported files (CodeCarbon, CarbonTracker, Eco2AI).

Row-level idempotency comes from deterministic measurement UUIDs; this record says when a
file (by SHA-256) was first imported into a project, by whom, and what came of it, so the
hub can answer "already imported" and show an import history.
"""

from __future__ import annotations

import uuid as uuidlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportFormat(models.TextChoices):
    CODECARBON = "codecarbon", "CodeCarbon emissions.csv"
    CARBONTRACKER = "carbontracker", "CarbonTracker log"
    ECO2AI = "eco2ai", "Eco2AI CSV"


class ImportedFile(models.Model):
    uuid = models.UUIDField(default=uuidlib.uuid4, unique=True, editable=False)
    project = models.ForeignKey(
        "api.Project", on_delete=models.CASCADE, related_name="imported_files"
    )
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=20, choices=ImportFormat.choices)
    size_bytes = models.PositiveBigIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    api_key = models.ForeignKey("api.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(default=timezone.now)
    # Outcome of the first import of this file; later uploads of the same bytes add nothing.
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True)
    run_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created"]
        constraints = [
            # One record per file content per project: "was this file already imported here?"
            models.UniqueConstraint(
                fields=["project", "sha256"], name="api_importedfile_unique_project_sha"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename or self.sha256[:12]} ({self.format}) into {self.project_id}"
