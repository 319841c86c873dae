"""The real CodeCarbon client (PyPI, in bench/.venv-codecarbon) against a live hub."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.models import Measurement, Run, RunSource
from tests.cast import make_cast

ROOT = Path(__file__).resolve().parents[2]
CC_PYTHON = ROOT / "bench" / ".venv-codecarbon" / "bin" / "python"
SCRIPT = Path(__file__).with_name("cc_client_run.py")


def run_codecarbon(
    workdir: Path, endpoint: str, api_key: str, mode: str = "flush"
) -> dict[str, Any]:
    """Run the client with a .codecarbon.config like the docs tell users to write."""
    # A missing venv is a failure, not a skip: this is the proof that the drop-in works.
    assert CC_PYTHON.exists(), (
        f"{CC_PYTHON} is missing: python3.11 -m venv bench/.venv-codecarbon && "
        "bench/.venv-codecarbon/bin/pip install codecarbon==3.3.2"
    )
    (workdir / ".codecarbon.config").write_text(
        "[codecarbon]\n"
        f"api_endpoint = {endpoint}\n"
        f"api_key = {api_key}\n"
        "output_methods = csv,api\n"
        f"output_dir = {workdir}\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),  # no ~/.codecarbon.config of the machine running the tests
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.run(
        [str(CC_PYTHON), str(SCRIPT), mode],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["log"] = log
    return result


def csv_row(workdir: Path, run_id: str) -> dict[str, str]:
    with (workdir / "emissions.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["run_id"] == run_id]
    assert rows, "CodeCarbon wrote no CSV row for its run"
    return rows[-1]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_real_codecarbon_client_reports_the_same_energy_as_its_csv(
    live_server: Any, tmp_path: Path
) -> None:
    cast = make_cast()
    # A trailing slash, as many users write it: CodeCarbon then posts to //runs.
    endpoint = f"{live_server.url}/api/codecarbon/"
    result = run_codecarbon(tmp_path, endpoint, cast.ingest_key)
    log = result["log"]
    assert "ApiClient Error" not in log, log
    assert "Successfully registered your run" in log, log

    row = csv_row(tmp_path, result["run_id"])
    runs = Run.objects.filter(project=cast.project, source=RunSource.CODECARBON)
    assert runs.count() == 1, log
    run = runs.get()
    assert run.experiment == cast.project.default_experiment()
    assert run.measurement_count == 2  # the flush and the stop
    # The same energy as the CSV, component by component (kWh, IT energy).
    assert run.cpu_energy_kwh == pytest.approx(float(row["cpu_energy"]), rel=1e-9, abs=1e-15)
    assert run.gpu_energy_kwh == pytest.approx(float(row["gpu_energy"]), rel=1e-9, abs=1e-15)
    assert run.ram_energy_kwh == pytest.approx(float(row["ram_energy"]), rel=1e-9, abs=1e-15)
    assert run.energy_kwh == pytest.approx(float(row["energy_consumed"]), rel=1e-9)
    # CodeCarbon's own figure is kept as client-reported ...
    assert run.client_emissions_kg == pytest.approx(float(row["emissions"]), rel=1e-9)
    # ... while the hub places the run by the project (France), not by CodeCarbon's
    # offline fallback guess (Canada), and computes its own emissions.
    assert run.zone == "FRA"
    assert run.emissions_kg == pytest.approx(run.energy_kwh * run.pue * run.factor.g_per_kwh / 1000)
    # Durations are CodeCarbon's whole seconds, so they sum to at most the real duration.
    assert run.duration_s <= float(row["duration"]) + 1e-9
    assert run.hardware["cpu_model"] == row["cpu_model"]
    m = Measurement.objects.filter(run=run).order_by("start").first()
    assert m is not None and m.cpu_method in {"imported", "none"}
    assert m.client_intensity_g_per_kwh is not None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_real_codecarbon_client_sending_every_two_measurements_lands_in_one_run(
    live_server: Any, tmp_path: Path
) -> None:
    cast = make_cast()
    result = run_codecarbon(
        tmp_path, f"{live_server.url}/api/codecarbon", cast.ingest_key, mode="live"
    )
    log = result["log"]
    assert "ApiClient Error" not in log, log
    row = csv_row(tmp_path, result["run_id"])
    # CodeCarbon 3.3.2 registers its run twice from two threads; the hub folds both into one.
    runs = Run.objects.filter(project=cast.project, source=RunSource.CODECARBON)
    assert runs.count() == 1, log
    run = runs.get()
    assert run.measurement_count >= 2
    # The client drops deltas shorter than 1 s ("emissions not sent because of a duration
    # smaller than 1"), so the hub can hold less than the CSV, never more.
    csv_kwh = float(row["energy_consumed"])
    assert run.energy_kwh <= csv_kwh * (1 + 1e-9)
    assert run.energy_kwh >= csv_kwh * 0.5


def test_the_codecarbon_venv_exists() -> None:
    """Fails (never skips) when the client the live test needs is not installed."""
    assert CC_PYTHON.exists(), "run: make the codecarbon venv (see docs/codecarbon.md)"
    out = subprocess.run(
        [str(CC_PYTHON), "-c", "import codecarbon; print(codecarbon.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("3."), out.stdout
    assert sys.version_info[:2] == (3, 11)
