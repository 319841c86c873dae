"""CodeCarbon's own PUE is divided out, so that the hub's PUE is applied once.

``fixtures/codecarbon_v3_pue15_emissions.csv`` was written by the real CodeCarbon 3.3.2
(bench/.venv-codecarbon, ``tests/codecarbon/cc_client_run.py flush``) with
``pue = 1.5`` and ``output_methods = csv`` in ``.codecarbon.config``, offline: one run,
flushed once and stopped, two cumulative rows. Its RAM power reads 30.0 W where the same
machine reports 20.0 W at pue 1 (``codecarbon_v3_emissions.csv``): 3.3.x scales power by
its PUE as well as energy.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from api.importers import import_file
from api.importers.carbontracker import CARBONTRACKER_PUE
from api.importers.common import version_tuple
from api.models import Measurement, Run
from tests.cast import Cast
from tests.codecarbon.test_cc_endpoints import cc, emission_body, new_run
from tests.codecarbon.test_cc_live_client import CC_PYTHON, SCRIPT

FIXTURES = Path(__file__).with_name("fixtures")
CC_PUE = FIXTURES / "codecarbon_v3_pue15_emissions.csv"
CC_V2 = FIXTURES / "codecarbon_v2_emissions.csv"


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_csv(records: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


def test_a_real_codecarbon_csv_with_pue_1_5_is_stored_as_it_energy(cast: Cast) -> None:
    last = rows(CC_PUE.read_text())[-1]
    assert last["pue"] == "1.5" and last["codecarbon_version"] == "3.3.2"
    report = import_file(cast.project, CC_PUE.read_bytes(), filename="emissions.csv")
    assert report.skipped == [] and report.accepted == 2
    run = Run.objects.get(run_key=f"codecarbon-csv:{last['run_id']}")
    # CodeCarbon's figures include its PUE 1.5: the hub keeps IT energy ...
    assert run.cpu_energy_kwh == pytest.approx(float(last["cpu_energy"]) / 1.5, rel=1e-9)
    assert run.ram_energy_kwh == pytest.approx(float(last["ram_energy"]) / 1.5, rel=1e-9)
    assert run.energy_kwh == pytest.approx(float(last["energy_consumed"]) / 1.5, rel=1e-9)
    # ... and applies its own PUE once.
    assert run.emissions_kg == pytest.approx(
        run.energy_kwh * run.pue * run.factor.g_per_kwh / 1000, rel=1e-9
    )
    # Power too (3.3.1 and later scale it): 30 W in the file is 20 W of RAM.
    powers = Measurement.objects.filter(run=run).values_list("ram_power_w", flat=True)
    assert list(powers) == [pytest.approx(20.0), pytest.approx(20.0)]
    # CodeCarbon's own emissions stay as it computed them (client-reported).
    assert run.client_emissions_kg == pytest.approx(float(last["emissions"]), rel=1e-9)
    # The run says what was done.
    assert run.params["codecarbon_pue"] == 1.5
    record = run.params["source_pue"]
    assert record["tool"] == "CodeCarbon" and record["pue"] == 1.5
    assert record["divided"] is True and record["powers_divided"] is True
    assert "divided them by 1.5" in record["note"] and "pue column" in record["note"]


@pytest.mark.slow
def test_a_csv_the_real_client_writes_with_pue_1_5_imports_as_it_energy(
    cast: Cast, tmp_path: Path
) -> None:
    assert CC_PYTHON.exists(), "bench/.venv-codecarbon is missing (see docs/codecarbon.md)"
    # pue in .codecarbon.config, as a team would set its data centre's PUE.
    (tmp_path / ".codecarbon.config").write_text(
        f"[codecarbon]\noutput_methods = csv\noutput_dir = {tmp_path}\npue = 1.5\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [str(CC_PYTHON), str(SCRIPT), "flush"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = (tmp_path / "emissions.csv").read_bytes()
    last = rows(data.decode())[-1]
    assert last["pue"] == "1.5"
    report = import_file(cast.project, data, filename="emissions.csv")
    assert report.skipped == [] and report.accepted == 2
    run = report.runs[0].run
    run.refresh_from_db()
    for comp in ("cpu", "gpu", "ram"):
        assert getattr(run, f"{comp}_energy_kwh") == pytest.approx(
            float(last[f"{comp}_energy"]) / 1.5, rel=1e-9, abs=1e-15
        )
    stop = Measurement.objects.filter(run=run).order_by("end").last()
    assert stop is not None
    assert stop.ram_power_w == pytest.approx(float(last["ram_power"]) / 1.5)


def test_codecarbon_before_3_3_1_scaled_energy_but_not_power(cast: Cast) -> None:
    records = rows(CC_PUE.read_text())
    for r in records:
        r["codecarbon_version"] = "3.3.0"
        r["ram_power"] = "20.0"
    import_file(cast.project, as_csv(records))
    run = Run.objects.get()
    assert run.ram_energy_kwh == pytest.approx(float(records[-1]["ram_energy"]) / 1.5, rel=1e-9)
    assert set(Measurement.objects.values_list("ram_power_w", flat=True)) == {20.0}
    assert run.params["source_pue"]["powers_divided"] is False
    assert "energies by its PUE 1.5" in run.params["source_pue"]["note"]


def test_a_codecarbon_2_csv_without_a_pue_column_is_taken_as_it_is(cast: Cast) -> None:
    import_file(cast.project, CC_V2.read_bytes(), fmt="codecarbon")
    bert = Run.objects.get(run_key="codecarbon-csv:5a1e0c8e-8a8f-4a52-9d6b-0b5e2f0c6d11")
    assert bert.gpu_energy_kwh == pytest.approx(0.25)
    assert "codecarbon_pue" not in bert.params
    assert bert.params["source_pue"]["divided"] is False
    assert "before 2.2.3" in bert.params["source_pue"]["stated"]


def test_a_pue_that_cannot_be_undone_or_changes_within_a_run_skips_the_row(cast: Cast) -> None:
    first, second = rows(CC_PUE.read_text())
    bad = [
        {**first, "run_id": "11111111-0000-4000-8000-000000000001", "pue": "0"},
        {**first, "run_id": "11111111-0000-4000-8000-000000000002", "pue": "abc"},
        {**first, "run_id": "11111111-0000-4000-8000-000000000003", "pue": "15"},
        first,
        {**second, "pue": "1.2"},
    ]
    report = import_file(cast.project, as_csv(bad))
    reasons = {s.line: s.reason for s in report.skipped}
    assert sorted(reasons) == [2, 3, 4, 6]
    assert "cannot be recovered" in reasons[2]
    assert "not a number" in reasons[3]
    assert "not a data-centre PUE" in reasons[4]
    assert "differs from 1.5" in reasons[6]
    run = Run.objects.get()
    assert run.energy_kwh == pytest.approx(float(first["energy_consumed"]) / 1.5, rel=1e-9)


def test_a_user_imports_a_pue_1_5_file_with_the_command_and_the_api(
    cast: Cast, client: Client
) -> None:
    last = rows(CC_PUE.read_text())[-1]
    it_kwh = float(last["energy_consumed"]) / 1.5
    out = StringIO()
    call_command("import_file", "--org", "Acme AI", "--project", "vision", str(CC_PUE), stdout=out)
    assert "codecarbon: 2 imported" in out.getvalue()
    r = client.post(
        "/api/v1/imports",
        {"file": SimpleUploadedFile("emissions.csv", CC_PUE.read_bytes())},
        HTTP_AUTHORIZATION=f"Bearer {cast.other_ingest_key}",
    )
    assert r.status_code == 201, r.content
    (answered,) = r.json()["runs"]
    # The answer is IT energy, to the API's 6 decimals of kWh.
    assert answered["energy_kwh"] == round(it_kwh, 6)
    detail = client.get(
        f"/api/v1/runs/{answered['id']}", HTTP_AUTHORIZATION=f"Bearer {cast.other_ingest_key}"
    ).json()
    assert detail["energy_kwh"] == round(it_kwh, 6)
    assert detail["params"]["source_pue"]["pue"] == 1.5
    assert detail["facility_energy_kwh"] == round(it_kwh * detail["pue"], 6)
    mine = Run.objects.get(project=cast.project)
    assert mine.energy_kwh == pytest.approx(it_kwh, rel=1e-9)


# --- the CodeCarbon API ------------------------------------------------------------------


def test_an_api_run_without_a_pue_keeps_the_energy_and_says_why(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    cc(client, "post", "/emissions", cast.ingest_key, emission_body(run_id))
    run = Run.objects.get(uuid=run_id)
    assert run.energy_kwh == pytest.approx(0.0222)
    record = run.params["source_pue"]
    assert record["pue"] == 1 and record["divided"] is False
    assert "do not carry the tracker's pue" in record["stated"]


def test_a_pue_sent_with_the_run_is_divided_out_of_every_interval(
    cast: Cast, client: Client
) -> None:
    run_id = new_run(client, cast, pue=1.5)  # codecarbon_version 3.3.2
    end = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(2):
        r = cc(
            client,
            "post",
            "/emissions",
            cast.ingest_key,
            emission_body(run_id, end + timedelta(minutes=2 * i)),
        )
        assert r.status_code == 201, r.content
    run = Run.objects.get(uuid=run_id)
    assert run.energy_kwh == pytest.approx(2 * 0.0222 / 1.5)
    assert run.gpu_energy_kwh == pytest.approx(2 * 0.02 / 1.5)
    m = Measurement.objects.filter(run=run).first()
    assert m is not None and m.gpu_power_w == pytest.approx(600.0 / 1.5)
    # CodeCarbon's intensity is its emissions over its (PUE-including) energy.
    assert m.client_intensity_g_per_kwh == pytest.approx(0.003 / 0.0222 * 1000)
    assert run.params["codecarbon_pue"] == 1.5
    assert run.params["source_pue"]["stated"] == "sent with POST /runs"


def test_a_pue_sent_with_an_interval_is_divided_out_and_remembered(
    cast: Cast, client: Client
) -> None:
    run_id = new_run(client, cast, codecarbon_version="3.2.9")
    r = cc(client, "post", "/emissions", cast.ingest_key, emission_body(run_id, pue=1.2))
    assert r.status_code == 201, r.content
    run = Run.objects.get(uuid=run_id)
    assert run.energy_kwh == pytest.approx(0.0222 / 1.2)
    m = Measurement.objects.get(run=run)
    assert m.gpu_power_w == 600.0  # 3.2.9 did not scale power
    assert run.params["codecarbon_pue"] == 1.2
    assert run.params["source_pue"]["stated"] == "sent with the interval"


@pytest.mark.parametrize("pue", [0, -1, 11, "1.5", True])
def test_an_impossible_pue_is_refused_with_its_field(cast: Cast, client: Client, pue: Any) -> None:
    r = cc(client, "post", "/runs", cast.ingest_key, {"experiment_id": None, "pue": pue})
    assert r.status_code == 400, r.content
    assert "pue" in r.json()["fields"]
    run_id = new_run(client, cast)
    r = cc(client, "post", "/emissions", cast.ingest_key, emission_body(run_id, pue=pue))
    assert r.status_code == 400 and "pue" in r.json()["fields"]
    assert Measurement.objects.count() == 0


def test_the_version_of_codecarbon_is_read_from_its_string() -> None:
    assert version_tuple("3.3.2") == (3, 3, 2)
    assert version_tuple("3.3.1rc1") == (3, 3, 1)
    assert version_tuple("2.2") == (2, 2)
    assert version_tuple("") is None and version_tuple(None) is None
    assert json.loads(json.dumps(version_tuple("10.0.0"))) == [10, 0, 0]


# --- CarbonTracker and Eco2AI ------------------------------------------------------------


def test_carbontracker_and_eco2ai_runs_say_which_pue_was_assumed(cast: Cast) -> None:
    ct = import_file(cast.project, (FIXTURES / "carbontracker_real_output.log").read_bytes())
    record = ct.runs[0].run.params["source_pue"]
    assert record["tool"] == "CarbonTracker" and record["pue"] == CARBONTRACKER_PUE
    assert record["divided"] is True and record["stated"].startswith("assumed")
    eco = import_file(cast.project, (FIXTURES / "eco2ai_real.csv").read_bytes())
    for imported in eco.runs:
        record = imported.run.params["source_pue"]
        assert record["tool"] == "Eco2AI" and record["pue"] == 1 and record["divided"] is False
        assert "does not record" in record["stated"]
