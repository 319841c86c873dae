"""Imports of CodeCarbon, CarbonTracker and Eco2AI files: parsing, idempotency, skipped
rows, and the three ways in (UI, API, management command)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from api.importers import ImportRefused, detect_format, import_file
from api.importers.carbontracker import CARBONTRACKER_PUE
from api.models import ImportedFile, Measurement, Run, RunSource
from tests.cast import Cast

FIXTURES = Path(__file__).with_name("fixtures")
CC_V3 = FIXTURES / "codecarbon_v3_emissions.csv"  # written by the real codecarbon 3.3.2
CC_V2 = FIXTURES / "codecarbon_v2_emissions.csv"  # v2 columns, by hand, with bad rows
CT_LOG = FIXTURES / "carbontracker_output.log"
ECO2AI = FIXTURES / "eco2ai_emission.csv"


def last_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {r["run_id"]: r for r in csv.DictReader(f)}


def test_it_detects_each_format() -> None:
    assert detect_format(CC_V3.read_text()) == "codecarbon"
    assert detect_format(CC_V2.read_text()) == "codecarbon"
    assert detect_format(CT_LOG.read_text()) == "carbontracker"
    assert detect_format(ECO2AI.read_text()) == "eco2ai"
    assert detect_format("a,b,c\n1,2,3\n") is None


def test_a_real_codecarbon_csv_imports_with_the_same_energy_per_run(cast: Cast) -> None:
    report = import_file(cast.project, CC_V3.read_bytes(), filename="emissions.csv")
    assert report.skipped == []
    # Two runs; the second was flushed once then stopped: two cumulative rows, two deltas.
    assert report.accepted == 3 and len(report.runs) == 2
    for run_id, row in last_rows(CC_V3).items():
        run = Run.objects.get(project=cast.project, run_key=f"codecarbon-csv:{run_id}")
        assert run.source == RunSource.IMPORT and run.status == "finished"
        assert run.cpu_energy_kwh == pytest.approx(float(row["cpu_energy"]), rel=1e-9)
        assert run.ram_energy_kwh == pytest.approx(float(row["ram_energy"]), rel=1e-9)
        assert run.energy_kwh == pytest.approx(float(row["energy_consumed"]), rel=1e-9)
        assert run.client_emissions_kg == pytest.approx(float(row["emissions"]), rel=1e-9)
        assert run.duration_s == pytest.approx(float(row["duration"]), abs=1e-5)
        assert run.zone == row["country_iso_code"]  # FRA and DEU, from the file
        assert run.experiment.name == "vision-training"
        assert run.hardware["cpu_model"] == row["cpu_model"]
    flushed = Run.objects.get(run_key__startswith="codecarbon-csv:87c7bee7")
    ms = list(Measurement.objects.filter(run=flushed).order_by("start"))
    assert len(ms) == 2 and ms[0].end <= ms[1].start + (ms[1].end - ms[1].start)
    assert all(m.cpu_method == "imported" for m in ms)


def test_the_same_file_twice_imports_nothing_new(cast: Cast) -> None:
    first = import_file(cast.project, CC_V3.read_bytes(), filename="emissions.csv")
    totals = Run.objects.filter(project=cast.project).totals()
    second = import_file(cast.project, CC_V3.read_bytes(), filename="emissions.csv")
    assert (second.accepted, second.duplicates) == (0, first.accepted)
    assert second.already_imported is not None
    assert Run.objects.filter(project=cast.project).totals() == totals
    assert ImportedFile.objects.filter(project=cast.project).count() == 1


def test_a_later_copy_with_more_rows_adds_only_the_new_delta(cast: Cast) -> None:
    lines = CC_V3.read_text().splitlines(keepends=True)
    partial = "".join(lines[:-1]).encode()  # before the last stop() of the flushed run
    assert import_file(cast.project, partial).accepted == 2
    report = import_file(cast.project, CC_V3.read_bytes())
    assert (report.accepted, report.duplicates) == (1, 2)
    run_id, row = list(last_rows(CC_V3).items())[-1]
    run = Run.objects.get(run_key=f"codecarbon-csv:{run_id}")
    assert run.energy_kwh == pytest.approx(float(row["energy_consumed"]), rel=1e-9)


def test_v2_columns_import_and_malformed_rows_are_reported_by_line(cast: Cast) -> None:
    report = import_file(cast.project, CC_V2.read_bytes(), fmt="codecarbon")
    assert report.accepted == 3
    assert [s.line for s in report.skipped] == [4, 5, 6]
    reasons = " | ".join(s.reason for s in report.skipped)
    assert "run_id is empty" in reasons and "duration" in reasons and "negative" in reasons
    bert = Run.objects.get(run_key="codecarbon-csv:5a1e0c8e-8a8f-4a52-9d6b-0b5e2f0c6d11")
    assert bert.gpu_energy_kwh == pytest.approx(0.25) and bert.zone == "DEU"
    assert bert.gpu_hours == pytest.approx(1.0)
    assert bert.experiment.name == "bert-finetune"
    aws = Run.objects.get(run_key="codecarbon-csv:2f4b6d88-3c55-4d77-9e88-6f9a0b1c2d55")
    assert (aws.cloud_provider, aws.cloud_region) == ("aws", "us-east-1")


def test_a_file_with_only_bad_rows_stores_nothing(cast: Cast) -> None:
    text = CC_V2.read_text().splitlines()
    bad = "\n".join([text[0], text[3], text[4]]).encode()
    report = import_file(cast.project, bad)
    assert report.accepted == 0 and len(report.skipped) == 2
    assert Run.objects.count() == 0


def test_a_carbontracker_log_imports_its_actual_consumption(cast: Cast) -> None:
    report = import_file(
        cast.project, CT_LOG.read_bytes(), filename="1_2024-03-01T10:00Z_carbontracker_output.log"
    )
    assert report.accepted == 1
    assert [s.line for s in report.skipped] == [19]  # the report with a broken Time
    run = report.runs[0].run
    assert run.gpu_energy_kwh == pytest.approx(0.079 / CARBONTRACKER_PUE)
    assert run.client_emissions_kg == pytest.approx(0.0120317)
    assert run.zone == "DNK"  # from "detected location: ..., DK"
    assert run.duration_s == pytest.approx(302.3)
    assert run.hardware["gpu_model"] == "NVIDIA GeForce RTX 3090"
    m = Measurement.objects.get(run=run)
    assert m.epoch == 10
    assert import_file(cast.project, CT_LOG.read_bytes()).accepted == 0


def test_carbontracker_console_output_without_times_is_refused(cast: Cast) -> None:
    console = b"CarbonTracker: \nActual consumption for 1 epoch(s):\n\tTime:\t0:00:10\n\tEnergy:\t0.1 kWh\n"
    with pytest.raises(ImportRefused, match=r"carbontracker_output\.log"):
        import_file(cast.project, console, fmt="carbontracker")


def test_an_eco2ai_csv_imports_epochs_and_reports_bad_rows(cast: Cast) -> None:
    report = import_file(cast.project, ECO2AI.read_bytes(), filename="emission.csv")
    assert report.accepted == 3
    assert [s.line for s in report.skipped] == [5, 6]
    resnet = Run.objects.get(run_key="eco2ai:6abc598e-c680-4e99-a9ee-4d02a9be656f")
    assert resnet.measurement_count == 2
    assert resnet.gpu_energy_kwh == pytest.approx(0.101)  # a GPU was seen: total kept on it
    assert resnet.zone == "SWE"
    assert sorted(Measurement.objects.filter(run=resnet).values_list("epoch", flat=True)) == [1, 2]
    assert resnet.client_emissions_kg == pytest.approx(0.00505)
    small = Run.objects.get(run_key="eco2ai:1d2e3f40-0000-4000-8000-000000000001")
    assert small.cpu_energy_kwh == pytest.approx(0.002) and small.zone == "CHE"
    assert small.experiment.name == "eco2ai"
    assert import_file(cast.project, ECO2AI.read_bytes()).accepted == 0


def test_a_file_that_is_no_known_format_is_refused(cast: Cast) -> None:
    with pytest.raises(ImportRefused, match="Could not tell the format"):
        import_file(cast.project, b"name,value\nx,1\n")
    with pytest.raises(ImportRefused, match="empty"):
        import_file(cast.project, b"   ")


# --- the three ways in -------------------------------------------------------------------


def test_a_member_uploads_a_file_and_sees_what_was_imported_and_skipped(cast: Cast) -> None:
    client = cast.client_for("member")
    page = client.get("/imports/")
    assert page.status_code == 200 and b"vision" in page.content
    r = client.post(
        "/imports/",
        {
            "project": cast.project.pk,
            "format": "",
            "file": SimpleUploadedFile("emissions.csv", CC_V2.read_bytes()),
        },
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "3</strong> measurements imported" in html
    assert "Skipped lines" in html and "<td>4</td>" in html and "run_id is empty" in html
    assert Run.objects.filter(project=cast.project).count() == 3
    again = client.post(
        "/imports/",
        {
            "project": cast.project.pk,
            "format": "",
            "file": SimpleUploadedFile("emissions.csv", CC_V2.read_bytes()),
        },
    )
    assert "already imported" in again.content.decode()
    assert "emissions.csv" in client.get("/imports/").content.decode()


def test_a_viewer_or_an_outsider_cannot_import_into_the_project(cast: Cast) -> None:
    for client in (cast.client_for("viewer"), Client()):
        client_user_page = client.get("/imports/")
        assert client_user_page.status_code in (200, 302)
        r = client.post(
            "/imports/",
            {"project": cast.project.pk, "file": SimpleUploadedFile("e.csv", CC_V3.read_bytes())},
        )
        assert r.status_code in (302, 400)
    outsider = Client()
    outsider.force_login(cast.outsider)
    r = outsider.post(
        "/imports/",
        {"project": cast.project.pk, "file": SimpleUploadedFile("e.csv", CC_V3.read_bytes())},
    )
    assert r.status_code == 400
    assert Run.objects.count() == 0


def test_the_api_imports_a_file_with_an_ingest_key(cast: Cast, client: Client) -> None:
    def post(key: str, name: str, data: bytes, **extra: Any) -> Any:
        return client.post(
            "/api/v1/imports",
            {"file": SimpleUploadedFile(name, data), **extra},
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    r = post(cast.ingest_key, "emission.csv", ECO2AI.read_bytes())
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["format"] == "eco2ai" and body["accepted"] == 3
    assert body["skipped"] == [
        {"line": 5, "reason": body["skipped"][0]["reason"]},
        {"line": 6, "reason": body["skipped"][1]["reason"]},
    ]
    again = post(cast.ingest_key, "emission.csv", ECO2AI.read_bytes())
    assert (
        again.status_code == 200
        and again.json()["duplicates"] == 3
        and again.json()["already_imported"]
    )
    assert post(cast.read_key, "emission.csv", ECO2AI.read_bytes()).status_code == 403
    bad = post(cast.ingest_key, "x.csv", b"a,b\n1,2\n")
    assert bad.status_code == 400 and "format" in bad.json()["message"]
    wrong_format = post(cast.ingest_key, "x.csv", ECO2AI.read_bytes(), format="nope")
    assert wrong_format.status_code == 400
    assert Run.objects.filter(project=cast.other_project).count() == 0


def test_the_management_command_imports_and_lists_skipped_lines(cast: Cast) -> None:
    out = StringIO()
    call_command("import_file", "--org", "Acme AI", "--project", "vision", str(CC_V2), stdout=out)
    text = out.getvalue()
    assert "codecarbon: 3 imported, 0 already there, 3 skipped" in text
    assert "line 4: run_id is empty" in text
    out = StringIO()
    call_command(
        "import_file",
        "--org",
        "Acme AI",
        "--project",
        "vision",
        "--format",
        "codecarbon",
        str(CC_V2),
        stdout=out,
    )
    assert "0 imported, 3 already there" in out.getvalue()
    with pytest.raises(CommandError, match="No project"):
        call_command("import_file", "--org", "Acme AI", "--project", "nope", str(CC_V2))


def test_the_same_file_imports_into_two_organisations_independently(cast: Cast) -> None:
    # Ids derived from the file's content are unique per run, not hub-wide: one tenant's
    # import neither blocks another's nor tells it that the file exists elsewhere.
    for path in (CC_V3, ECO2AI):
        mine = import_file(cast.project, path.read_bytes(), filename=path.name)
        theirs = import_file(cast.other_project, path.read_bytes(), filename=path.name)
        assert mine.accepted > 0
        assert (theirs.accepted, theirs.duplicates) == (mine.accepted, 0)
    assert Run.objects.filter(project=cast.other_project).totals()["energy_kwh"] == pytest.approx(
        Run.objects.filter(project=cast.project).totals()["energy_kwh"]
    )


def test_an_impossible_energy_or_an_enormous_number_skips_the_row_with_its_line(cast: Cast) -> None:
    lines = ECO2AI.read_text().splitlines()
    header = lines[0].split(",")
    energy_col = next(i for i, h in enumerate(header) if h.startswith("power_consumption"))
    duration_col = next(i for i, h in enumerate(header) if h.startswith("duration"))
    bad = lines[1].split(",")
    bad[energy_col] = "1e12"  # 10^12 kWh: would otherwise be split into 10^10 pieces
    huge = lines[1].split(",")
    huge[duration_col] = "1e20"  # beyond any date arithmetic
    data = "\n".join([lines[0], ",".join(bad), ",".join(huge)]) + "\n"
    report = import_file(cast.project, data.encode(), filename="emission.csv")
    assert report.accepted == 0
    assert sorted(s.line for s in report.skipped) == [2, 3]
    assert Measurement.objects.count() == 0


def test_a_flushed_codecarbon_run_lasts_its_duration_in_intervals_that_follow_each_other(
    cast: Cast, client: Client
) -> None:
    # CodeCarbon cuts timestamps to the second but not durations: the first row's
    # timestamp - duration is the start, and each delta follows the previous one.
    pue_csv = FIXTURES / "codecarbon_v3_pue15_emissions.csv"
    first, last = csv.DictReader(pue_csv.open())
    import_file(cast.project, pue_csv.read_bytes())
    run = Run.objects.get()
    ms = list(Measurement.objects.filter(run=run).order_by("start"))
    assert ms[0].end == ms[1].start
    start = datetime.fromisoformat(first["timestamp"]).replace(tzinfo=UTC) - timedelta(
        seconds=float(first["duration"])
    )
    assert ms[0].start == start
    assert (ms[1].end - ms[0].start).total_seconds() == pytest.approx(float(last["duration"]))
    body = client.get(
        f"/api/v1/runs/{run.uuid}", HTTP_AUTHORIZATION=f"Bearer {cast.read_key}"
    ).json()
    assert body["duration_s"] == round(float(last["duration"]), 3)
    assert datetime.fromisoformat(body["started_at"]) == start
