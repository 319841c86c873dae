"""Runs for the dashboard tests, ingested through ``api.ingest`` like real clients'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api import ingest, schema
from api.models import Project, Run
from tests.cast import measurement


def make_run(
    project: Project,
    key: str,
    *,
    experiment: str = "baseline",
    start: datetime | None = None,
    intervals: int = 6,
    gpu_kwh: float = 0.002,
    status: str | None = None,
    metrics: dict[str, Any] | None = None,
    ranks: int = 1,
    **data: Any,
) -> Run:
    """A run with ``intervals`` ten-second measurements per rank, optionally finished."""
    run, _ = ingest.get_or_create_run(
        project, {"run_key": key, "experiment": experiment, "rank_count": ranks, **data}
    )
    start = start or datetime.now(UTC) - timedelta(hours=2)
    items = [
        measurement(start + timedelta(seconds=10 * i), gpu_kwh=gpu_kwh, rank=rank, seq=i)
        for rank in range(ranks)
        for i in range(intervals)
    ]
    ingest.ingest_measurements(run, schema.measurements(items))
    if status:
        run.finish(status, metrics, None)
    run.refresh_from_db()
    return run


@dataclass
class Usage:
    """Three runs in ``cast.project`` (two finished with accuracy, one failed), a run
    with unknown location in a second project, and one run in the other organisation."""

    runs: dict[str, Run]
