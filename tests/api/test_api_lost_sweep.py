"""Silent runs are marked lost through ordinary requests: no Celery beat needed.

The quick start (``make run``) has no beat and runs tasks eagerly, as this suite does: a
run whose process died (SIGKILL) must still turn ``lost`` within RUN_LOST_AFTER_S +
RUN_LOST_SWEEP_S + 1 s, as any answer shows (api/lost.py).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from api import lost
from api.models import Run
from tests.cast import Cast, api, measurement


@pytest.fixture(autouse=True)
def sweep(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-minute silence makes a run lost; requests sweep at most once a second."""
    assert settings.CELERY_TASK_ALWAYS_EAGER  # no worker, so no beat either
    settings.RUN_LOST_AFTER_S = 60
    settings.RUN_LOST_SWEEP_S = 1
    cache.delete(lost.SWEEP_KEY)
    monkeypatch.setattr(lost, "_next_check", 0.0)


def started_run(client: Client, cast: Cast, run_key: str) -> str:
    run = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": run_key}).json()
    answer = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": [measurement()]},
    )
    assert answer.status_code == 200 and answer.json()["run"]["status"] == "running"
    return str(run["id"])


def falls_silent(run_id: str, seconds: float = 61) -> None:
    """The run's process was killed ``seconds`` ago: it has reported nothing since."""
    Run.objects.filter(uuid=run_id).update(last_seen_at=timezone.now() - timedelta(seconds=seconds))


def last_sweep_long_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    """As it is after a minute of silence: the sweep's key has expired everywhere."""
    cache.delete(lost.SWEEP_KEY)
    monkeypatch.setattr(lost, "_next_check", 0.0)


def status(client: Client, cast: Cast, run_id: str) -> str:
    return str(api(client, "get", f"/api/v1/runs/{run_id}", cast.read_key).json()["status"])


def test_a_silent_run_is_lost_in_the_next_answer_without_beat(
    cast: Cast, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = started_run(client, cast, "killed")
    alive = started_run(client, cast, "alive")
    falls_silent(run_id)
    last_sweep_long_ago(monkeypatch)
    assert status(client, cast, run_id) == "lost"  # this very request swept first
    assert status(client, cast, alive) == "running"  # it still reports
    api(  # a lost run that reports again is running again
        client,
        "post",
        f"/api/v1/runs/{run_id}/measurements",
        cast.ingest_key,
        {"measurements": [measurement()]},
    )
    assert status(client, cast, run_id) == "running"
    # RUN_LOST_SWEEP_S = 0 leaves the sweep to Celery beat alone.
    settings.RUN_LOST_SWEEP_S = 0
    falls_silent(alive, seconds=3600)
    last_sweep_long_ago(monkeypatch)
    assert status(client, cast, alive) == "running"


def test_requests_sweep_at_most_once_per_interval_and_within_the_bound(
    cast: Cast, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    swept_at = time.monotonic()
    run_id = started_run(client, cast, "killed")  # its first request swept
    falls_silent(run_id)
    # Another web process (its own clock, the same cache) does not sweep again so soon.
    monkeypatch.setattr(lost, "_next_check", 0.0)
    assert status(client, cast, run_id) == "running"
    # RUN_LOST_SWEEP_S + 1 s later the next request sweeps, whichever process it reaches.
    bound = swept_at + settings.RUN_LOST_SWEEP_S + lost.CHECK_EVERY_S
    time.sleep(max(0.0, bound - time.monotonic()))
    assert status(client, cast, run_id) == "lost"
