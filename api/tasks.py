"""Background work of the api app (Celery). Tasks take ids and are idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from api.aggregates import BasisMismatch
from api.models import Run, RunSource, RunStatus


@shared_task(soft_time_limit=60, time_limit=90)
def mark_lost_runs() -> int:
    """Mark running runs that stopped reporting as lost; return how many.

    Celery beat runs it every 5 minutes; the start of a request runs it too when it is due
    (``api.lost.sweep_if_due``), so that it happens without beat. CodeCarbon's client has
    no "run finished" call, so its silent runs are closed as finished at their last
    interval instead of being called lost. A conditional update: running it twice, or on
    two workers at once, is harmless.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_LOST_AFTER_S)
    silent = Run.objects.filter(status=RunStatus.RUNNING, last_seen_at__lt=cutoff)
    silent.filter(source=RunSource.CODECARBON).update(
        status=RunStatus.FINISHED,
        # Never before the run's start (a client may give a start slightly ahead).
        ended_at=Greatest(Coalesce(F("last_end"), F("last_seen_at")), F("started_at")),
    )
    return silent.exclude(source=RunSource.CODECARBON).update(status=RunStatus.LOST)


@shared_task(soft_time_limit=300, time_limit=360)
def rebuild_aggregates(project_id: int) -> int:
    """Recompute a project's hourly aggregates and run totals from its measurements."""
    from api.aggregates import rebuild_project

    return rebuild_project(project_id)


@shared_task(
    soft_time_limit=1800,
    time_limit=1900,
    autoretry_for=(BasisMismatch,),
    retry_backoff=True,
    max_retries=5,
)
def apply_organisation_basis(organisation_id: int, basis: str) -> int:
    """Put an organisation's figures on a factor basis; return the measurements changed.

    Idempotent: applying the basis the organisation already has rewrites the same values.
    """
    from api.aggregates import apply_basis
    from api.models import Organisation

    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is None:
        return 0
    return apply_basis(org, basis).measurements


@shared_task(soft_time_limit=1800, time_limit=1900)
def maintain_partitions() -> dict[str, Any]:
    """Create the coming months' measurement partitions and drop raw months past
    retention (``api.partitions.maintain``); return what it did. Idempotent."""
    from api.partitions import maintain

    done = maintain()
    cutoff = done["cutoff"]
    return {
        "created": [m.isoformat() for m in done["created"]],
        "dropped": [
            {
                "month": d["month"].isoformat(),
                "measurement_count": d["measurement_count"],
                "latest_end": d["latest_end"].isoformat() if d["latest_end"] else None,
            }
            for d in done["dropped"]
        ],
        "cutoff": cutoff.isoformat() if cutoff else None,
        "skipped": done["skipped"],
    }
