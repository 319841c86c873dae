"""The record of raw measurements removed by retention (``api.partitions.maintain``).

Retention removes a whole UTC month of raw measurements at once; the hourly aggregates
(``UsageHour``) and the run totals, kept at ingestion, stay. One row per month says how
many rows went and the latest ``end`` among them, so that ``api.partitions.raw_complete_from``
can tell from which hour on the raw data is still complete.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DroppedPartition(models.Model):
    """One UTC month of raw measurements removed by retention (its aggregates stay)."""

    # The first day of the month. A month dropped again (late data that arrived after the
    # first drop) adds to its row.
    month = models.DateField(unique=True)
    dropped_at = models.DateTimeField(default=timezone.now)
    measurement_count = models.BigIntegerField()
    # The latest ``end`` of the dropped rows (a row may end after its month); None when the
    # month held no rows.
    latest_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.measurement_count} measurements dropped"
