"""Seeded usage for the report tests, created through api.ingest like real clients.

Quarter 2026Q3 (the one reported) holds: an owned-hardware project in France (measured
and estimated energy, one lost run), a cloud project on Google Cloud europe-west4
(Netherlands, imported energy) and a run whose location is unknown. 2026Q2 and 2025Q3
hold one run each, for the comparisons.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api import ingest, schema
from api.models import Project, Run, RunStatus
from tests.cast import Cast, measurement

Q3 = datetime(2026, 7, 1, tzinfo=UTC)


def add_run(
    project: Project,
    key: str,
    start: datetime,
    hours: int,
    *,
    kwh: tuple[float, float, float] = (8.0, 40.0, 2.0),
    methods: tuple[str, str, str] = ("rapl", "nvml_energy", "constant"),
    gpus: int = 4,
    **run: Any,
) -> Run:
    r, _ = ingest.get_or_create_run(
        project,
        {
            "run_key": key,
            "name": key,
            "experiment": run.pop("experiment", "baseline"),
            "started_at": start,
            "hardware": run.pop(
                "hardware",
                {
                    "gpu_model": "NVIDIA A100-SXM4-40GB",
                    "gpu_count": gpus,
                    "cpu_model": "AMD EPYC 7763",
                },
            ),
            **run,
        },
    )
    items = [
        measurement(
            start + timedelta(hours=h),
            duration_s=3600.0,
            cpu_kwh=kwh[0],
            gpu_kwh=kwh[1],
            ram_kwh=kwh[2],
            cpu_method=methods[0],
            gpu_method=methods[1],
            ram_method=methods[2],
            gpu_count=gpus,
            seq=h,
        )
        for h in range(hours)
    ]
    for i in range(0, len(items), 500):
        ingest.ingest_measurements(r, schema.measurements(items[i : i + 500]))
    r.refresh_from_db()
    return r


def seed(cast: Cast) -> dict[str, Any]:
    """Create the projects and runs; return them by name."""
    vision = cast.project
    vision.hosting = "owned"
    vision.save(update_fields=["hosting"])
    nlp = Project.objects.create(
        organisation=cast.org,
        name="nlp",
        cloud_provider="gcp",
        cloud_region="europe-west4",
        hosting="cloud",
    )
    misc = Project.objects.create(organisation=cast.org, name="misc", hosting="colocated")
    runs = {
        "v1": add_run(vision, "v1-train", Q3 + timedelta(days=3), 30),
        "v2": add_run(
            vision,
            "v2-train",
            Q3 + timedelta(days=40),
            20,
            methods=("tdp_model", "tdp_model", "constant"),
        ),
        "lost": add_run(vision, "v3-lost", Q3 + timedelta(days=50), 5),
        "n1": add_run(
            nlp,
            "n1-import",
            Q3 + timedelta(days=60),
            12,
            methods=("imported", "imported", "imported"),
            experiment="bert",
        ),
        "u1": add_run(misc, "u1-nowhere", Q3 + timedelta(days=80), 6, gpus=2),
        "prev": add_run(vision, "q2-run", datetime(2026, 5, 10, tzinfo=UTC), 10),
        "yearago": add_run(vision, "q3-2025", datetime(2025, 8, 10, tzinfo=UTC), 16),
    }
    for key in ("v1", "v2", "n1", "u1", "prev", "yearago"):
        runs[key].finish("finished", {"accuracy": 0.9}, None)
    Run.objects.filter(pk=runs["lost"].pk).update(status=RunStatus.LOST)
    return {"vision": vision, "nlp": nlp, "misc": misc, "runs": runs}
