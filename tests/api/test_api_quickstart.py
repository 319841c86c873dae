"""Smoke test of the quick-start path: SQLite file, eager Celery, demo data, a real server,
and the README's curl walk-through (create key, create run, post, read totals)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_quick_start_serves_demo_data_and_accepts_measurements(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "DJANGO_SETTINGS"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    manage = [sys.executable, str(ROOT / "manage.py")]

    def run(*args: str) -> str:
        out = subprocess.run(
            [*manage, *args], env=env, capture_output=True, text=True, timeout=300, check=True
        )
        return out.stdout

    run("migrate", "--no-input", "-v0")
    seeded = run("seed_demo", "--runs", "12")
    assert "Sign in with username 'demo'" in seeded
    key = (
        run("create_api_key", "--org", "Quick", "--project", "start", "--scope", "ingest")
        .strip()
        .splitlines()[-1]
    )
    assert key.startswith("ehi_")
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/api/v1/schema/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {key}"}
        r = requests.post(
            f"{base}/api/v1/runs",
            json={"run_key": "curl-1", "experiment": "readme", "country": "SWE"},
            headers=auth,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        start = datetime.now(UTC) - timedelta(minutes=10)
        item = {
            "uuid": str(uuid.uuid4()),
            "start": start.isoformat(),
            "end": (start + timedelta(seconds=60)).isoformat(),
            "cpu_energy_kwh": 0.002,
            "cpu_method": "rapl",
        }
        r = requests.post(
            f"{base}/api/v1/runs/{run_id}/measurements",
            json={"measurements": [item]},
            headers=auth,
            timeout=10,
        )
        assert r.json()["accepted"] == 1
        projects = requests.get(f"{base}/api/v1/projects", headers=auth, timeout=10).json()[
            "results"
        ]
        summary = requests.get(
            f"{base}/api/v1/projects/{projects[0]['id']}/summary", headers=auth, timeout=10
        ).json()
        assert summary["energy_kwh"] == pytest.approx(0.002)
        assert summary["run_count"] == 1
        login = requests.get(f"{base}/login/", timeout=10)
        assert login.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
