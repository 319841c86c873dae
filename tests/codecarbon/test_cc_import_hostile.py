"""Hostile files: a cell too long for the csv module, names longer than their columns,
dates no calendar holds, NUL characters, file names that are not UTF-8 and other
encodings. Each becomes a skipped line with its reason (or a refused file, when the
header or the whole file is unreadable), never an error page, and the rest imports."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from api.importers import ImportRefused, import_file
from api.models import Experiment, ImportedFile, Run
from tests.cast import Cast

FIXTURES = Path(__file__).with_name("fixtures")
CC_V3 = FIXTURES / "codecarbon_v3_emissions.csv"  # 3 rows, 2 runs (line 2; lines 3-4)
ECO2AI = FIXTURES / "eco2ai_emission.csv"  # lines 2-4 good, 5 and 6 bad
HUGE = "x" * 200_000  # above csv.field_size_limit(), 131,072 by default


def table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def written(header: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def changed(path: Path, row: int, **cells: str) -> bytes:
    """The fixture with cells of its data row ``row`` (0 = line 2) replaced."""
    header, rows = table(path)
    rows[row].update(cells)
    return written(header, rows)


def api_import(cast: Cast, data: bytes, name: str = "file", **extra: Any) -> Any:
    r = Client().post(
        "/api/v1/imports",
        {"file": SimpleUploadedFile(name, data), **extra},
        HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}",
    )
    assert r.status_code < 500, r.content[:2000]
    return r


def skipped(body: dict[str, Any]) -> dict[int, str]:
    return {s["line"]: s["reason"] for s in body["skipped"]}


# --- cells over the csv module's limit ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "accepted", "lines"),
    [
        (changed(CC_V3, 0, os=HUGE), 2, [2]),
        (changed(ECO2AI, 0, OS=HUGE), 2, [2, 5, 6]),
    ],
    ids=["codecarbon", "eco2ai"],
)
def test_a_cell_over_the_csv_limit_skips_its_line_and_the_rest_imports(
    cast: Cast, data: bytes, accepted: int, lines: list[int]
) -> None:
    r = api_import(cast, data, "emissions.csv")
    body = r.json()
    assert (r.status_code, body["accepted"]) == (201, accepted)
    assert sorted(skipped(body)) == lines
    assert "longer than 131,072 characters" in skipped(body)[2]
    assert ImportedFile.objects.get().skipped[0]["line"] == 2


@pytest.mark.parametrize("fmt", ["codecarbon", "eco2ai"])
def test_a_header_over_the_csv_limit_refuses_the_file(cast: Cast, fmt: str) -> None:
    data = f"timestamp,{HUGE},run_id\n2026-01-01T00:00:00,1,a\n".encode()
    with pytest.raises(ImportRefused, match="header line has a cell longer than 131,072"):
        import_file(cast.project, data, fmt=fmt)
    r = api_import(cast, data, format=fmt)
    assert r.status_code == 400 and "header line" in r.json()["message"]
    assert Run.objects.count() == 0


# --- names longer than their columns --------------------------------------------------------


def test_names_longer_than_their_columns_are_cut_with_an_ellipsis(cast: Cast) -> None:
    # Cut rather than refused: the measurements count, and the file keeps the whole text.
    long_id = "r" * 300
    header, rows = table(CC_V3)
    rows[0].update(project_name="p" * 300, run_id=long_id + "-a")
    rows[1].update(run_id=long_id + "-b")
    rows[2].update(run_id=long_id + "-b")
    body = api_import(cast, written(header, rows), "emissions.csv").json()
    assert (body["accepted"], body["skipped"]) == (3, [])
    first = Run.objects.get(experiment__name__startswith="ppp")
    assert first.experiment.name == "p" * 199 + "\u2026"
    assert len(first.name) <= 200 and first.name.endswith(" rrrrrrrr")
    # Two ids that differ only beyond the column are two runs, each key within it.
    keys = sorted(Run.objects.values_list("run_key", flat=True))
    assert len(keys) == 2 and len(set(keys)) == 2 and all(len(k) == 200 for k in keys)
    assert first.params["codecarbon_run_id"] == long_id + "-a"

    eco = changed(ECO2AI, 2, id="e" * 300, project_name="q" * 300, experiment_description="d" * 300)
    report = import_file(cast.project, eco)
    assert report.accepted == 3
    eco_run = Run.objects.get(experiment__name__startswith="qqq")
    assert (eco_run.experiment.name, eco_run.name) == ("q" * 199 + "\u2026", "d" * 199 + "\u2026")
    assert len(eco_run.run_key) == 200

    ct = import_file(
        cast.project, CT_GOOD.encode(), filename="n" * 300 + "_carbontracker_output.log"
    )
    assert ct.accepted == 2 and ct.runs[0].run.name == "n" * 199 + "\u2026"


def test_a_skipped_reason_quotes_at_most_500_characters_of_the_cell(cast: Cast) -> None:
    body = api_import(cast, changed(CC_V3, 0, duration="9" * 100_000), "emissions.csv").json()
    assert body["accepted"] == 2
    reason = skipped(body)[2]
    assert reason.startswith("duration '999") and len(reason) == 500 and reason.endswith("\u2026")


# --- dates no calendar holds, or the hub does not accept ----------------------------------

CT_HEAD = (
    "2024-03-01 10:00:00,101 - MainThread - INFO - CarbonTracker: The following components "
    "were found: GPU with device(s) NVIDIA GeForce RTX 3090.\n"
)


def ct_log(stamp2: str = "2024-03-01 10:02:00,000", time2: str = "0:02:00") -> str:
    """A log with two actual reports (blocks at lines 3 and 8)."""
    return (
        CT_HEAD + "2024-03-01 10:01:00,000 - MainThread - INFO - CarbonTracker: \n"
        "Actual consumption for 1 epoch(s):\n\tTime:\t0:01:00\n\tEnergy:\t0.010000 kWh\n"
        "\tCO2eq:\t1.5 g\n"
        f"{stamp2} - MainThread - INFO - CarbonTracker: \n"
        f"Actual consumption for 2 epoch(s):\n\tTime:\t{time2}\n\tEnergy:\t0.020000 kWh\n"
        "\tCO2eq:\t3.0 g\n"
    )


CT_GOOD = ct_log()


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (
            changed(CC_V3, 0, timestamp="0001-01-01T00:00:00"),
            2,
            "timestamp is before the year 2000",
        ),
        (
            changed(CC_V3, 0, timestamp="9999-12-31T23:59:59"),
            2,
            "timestamp is in the future (9999-12-31",
        ),
        (changed(CC_V3, 0, timestamp="2024-13-45T00:00:00"), 2, "not an ISO 8601 timestamp"),
        (changed(CC_V3, 0, duration="1e12"), 2, "when the tracker started"),
        (
            changed(ECO2AI, 2, start_time="0001-01-01 00:00:00"),
            4,
            "start_time is before the year 2000",
        ),
        (
            changed(ECO2AI, 2, start_time="9999-12-31 23:59:59"),
            4,
            "start_time is in the future (9999-12-31",
        ),
        (changed(ECO2AI, 2, start_time="2024-13-45 00:00:00"), 4, "not an ISO 8601 timestamp"),
        (changed(ECO2AI, 2, **{"duration(s)": "1e15"}), 4, "start_time + duration(s)"),
        (ct_log(stamp2="0001-01-01 00:00:00,000").encode(), 8, "log time is before the year 2000"),
        (
            ct_log(stamp2="9999-12-31 23:59:59,000").encode(),
            8,
            "log time is in the future (9999-12-31",
        ),
        (
            ct_log(stamp2="2024-13-45 10:00:00,000").encode(),
            8,
            "'2024-13-45 10:00:00' is not a date",
        ),
        (ct_log(time2="999999999 days, 0:00:00").encode(), 8, "outside any calendar"),
    ],
    ids=[
        "cc-year-1",
        "cc-year-9999",
        "cc-month-13",
        "cc-duration",
        "eco2ai-year-1",
        "eco2ai-year-9999",
        "eco2ai-month-13",
        "eco2ai-duration",
        "ct-year-1",
        "ct-year-9999",
        "ct-month-13",
        "ct-duration",
    ],
)
def test_a_time_outside_what_the_hub_accepts_skips_its_line_and_the_rest_imports(
    cast: Cast, data: bytes, line: int, reason: str
) -> None:
    r = api_import(cast, data, "x_carbontracker_output.log")
    body = r.json()
    assert r.status_code == 201, body
    # Every other good row still imports: CodeCarbon's other run (2 rows), Eco2AI's other
    # tracker (2 epochs), CarbonTracker's first report.
    assert body["accepted"] == (1 if body["format"] == "carbontracker" else 2)
    assert reason in skipped(body)[line], skipped(body)


# --- NUL characters, file names and encodings -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "accepted", "lines"),
    [
        (changed(CC_V3, 0, os="Linux\x00"), 2, [2]),
        (changed(ECO2AI, 2, experiment_description="a\x00b"), 2, [4, 5, 6]),
        # The component line (hardware) and a crashed log's tail of zeros.
        (CT_GOOD.replace("RTX 3090", "RTX\x003090") + "\x00" * 4096, 2, [1, 12]),
    ],
    ids=["codecarbon", "eco2ai", "carbontracker"],
)
def test_a_line_with_a_nul_character_is_skipped_and_the_rest_imports(
    cast: Cast, data: bytes | str, accepted: int, lines: list[int]
) -> None:
    raw = data.encode() if isinstance(data, str) else data
    body = api_import(cast, raw, "x_carbontracker_output.log").json()
    assert body["accepted"] == accepted
    assert sorted(skipped(body)) == lines
    assert "NUL character" in skipped(body)[lines[0]]


def test_a_file_name_that_is_not_utf8_or_holds_a_nul_is_stored_readable(
    cast: Cast, tmp_path: Path
) -> None:
    # A name that is not UTF-8 on disk reaches Python with lone surrogates in it.
    path = Path(os.fsdecode(tmp_path.as_posix().encode() + b"/\xff_carbontracker_output.log"))
    path.write_text(CT_GOOD)
    out = io.StringIO()
    call_command("import_file", "--org", "Acme AI", "--project", "vision", str(path), stdout=out)
    assert "2 imported" in out.getvalue()
    assert Run.objects.get().name == "\ufffd_carbontracker_output.log"
    assert ImportedFile.objects.get().filename == "\ufffd_carbontracker_output.log"
    report = import_file(
        cast.other_project, CT_GOOD.encode(), filename="a\x00b_carbontracker_output.log"
    )
    assert report.runs[0].run.name == "ab_carbontracker_output.log"


def test_a_file_in_another_encoding_imports_or_is_refused_clearly(cast: Cast) -> None:
    text = CC_V3.read_text()
    # UTF-16 with its byte-order mark (Windows tools write it) is read as such.
    assert import_file(cast.project, text.encode("utf-16")).accepted == 3
    # Windows-1252 is read too.
    eco = changed(ECO2AI, 2, project_name="caf\u00e9").decode().encode("cp1252")
    assert import_file(cast.project, eco).accepted == 3
    assert Experiment.objects.filter(name="caf\u00e9").exists()
    # Without a mark, UTF-16 is NULs between letters: refused, saying so.
    with pytest.raises(
        ImportRefused, match=re.escape("not UTF-8 text (UTF-16 without a byte-order mark")
    ):
        import_file(cast.project, text.encode("utf-16-le"), fmt="codecarbon")
    r = api_import(cast, text.encode("utf-16-be"))
    assert r.status_code == 400 and "NUL characters" in r.json()["message"]
    with pytest.raises(ImportRefused, match=re.escape("not text (UTF-16): save it as UTF-8")):
        import_file(cast.project, "timestamp\n".encode("utf-16") + b"\x00\xd8")  # lone surrogate
    with pytest.raises(ImportRefused, match=re.escape("not text (UTF-8 or Windows-1252)")):
        import_file(cast.project, b"timestamp,\x81\x8d\x8f\n")


def test_the_upload_page_shows_a_hostile_file_s_skipped_lines(cast: Cast) -> None:
    r = cast.client_for("member").post(
        "/imports/",
        {
            "project": cast.project.pk,
            "format": "",
            "file": SimpleUploadedFile("emissions.csv", changed(CC_V3, 0, os=HUGE)),
        },
    )
    assert r.status_code == 200
    assert "longer than 131,072 characters" in r.content.decode()
