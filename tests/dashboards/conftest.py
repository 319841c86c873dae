"""Fixtures of the dashboard tests (helpers live in tests/dashboards/dash_data.py)."""

from __future__ import annotations

import pytest

from api.models import Project
from tests.cast import Cast
from tests.dashboards.dash_data import Usage, make_run


@pytest.fixture
def usage(cast: Cast) -> Usage:
    nowhere = Project.objects.create(organisation=cast.org, name="nowhere")
    runs = {
        "small": make_run(
            cast.project, "small", gpu_kwh=0.001, status="finished", metrics={"accuracy": 0.81}
        ),
        "big": make_run(
            cast.project,
            "big",
            gpu_kwh=0.02,
            status="finished",
            metrics={"accuracy": 0.93},
            hardware={"gpu_model": "A100", "gpu_count": 1},
            ranks=2,
        ),
        "failed": make_run(
            cast.project, "failed", gpu_kwh=0.01, status="failed", metrics={"accuracy": 0.5}
        ),
        "unknown": make_run(nowhere, "unknown-where", experiment="probe", status="finished"),
        "secret": make_run(cast.other_project, "secret-run", experiment="hidden"),
    }
    return Usage(runs)
