"""One real Celery task through a real worker on the local Redis broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from api.models import Run
from api.tasks import mark_lost_runs
from emissions_hub.celery import app
from tests.cast import Cast, api, measurement


@pytest.fixture
def worker(transactional_db: Any) -> Any:
    """A celery worker subprocess on the test database and the local Redis."""
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "emissions_hub.settings",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "emissions_hub",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-Q",
            "test-worker",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


def test_a_real_worker_marks_silent_runs_lost(worker: Any, client: Any) -> None:
    from tests.cast import make_cast

    cast: Cast = make_cast()
    run = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "silent"}).json()
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": [measurement()]},
    )
    Run.objects.filter(run_key="silent").update(last_seen_at=timezone.now() - timedelta(days=1))
    app.conf.task_always_eager = False
    try:
        result = mark_lost_runs.apply_async(queue="test-worker")
        marked = result.get(timeout=60) if app.conf.result_backend else None
    finally:
        app.conf.task_always_eager = True
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Run.objects.get(run_key="silent").status != "lost":
        time.sleep(0.2)
    assert Run.objects.get(run_key="silent").status == "lost"
    if marked is not None:
        assert marked == 1
    assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
