"""Imports of files written by the real CarbonTracker 2.4.7 and Eco2AI 0.3.12 (see
fixtures/README.md for how each was produced). Expected figures are read from the files
here, independently of the importers."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import pytest

from api.importers import ImportRefused, detect_format, import_file
from api.importers.carbontracker import CARBONTRACKER_PUE
from api.models import Measurement, Run, RunSource
from tests.cast import Cast

FIXTURES = Path(__file__).with_name("fixtures")
CT_FULL = FIXTURES / "carbontracker_real_output.log"  # 4 epochs, components="cpu"
CT_STOPPED = FIXTURES / "carbontracker_real_stopped_output.log"  # stop() after 3 of 6
CT_DEBUG = FIXTURES / "carbontracker_real_debug.log"  # the *_carbontracker.log beside it
ECO = FIXTURES / "eco2ai_real.csv"  # 4 trackers, one of them in training mode
ECO_PANDAS3 = FIXTURES / "eco2ai_real_pandas3.csv"  # written with pandas 3 (cut-short rows)
ECO_GROWING = (FIXTURES / "eco2ai_real_growing_1.csv", FIXTURES / "eco2ai_real_growing_2.csv")


# --- CarbonTracker -----------------------------------------------------------------------


def actual_report(path: Path) -> dict[str, float]:
    """The one 'Actual consumption' block of a log: epochs, seconds, kWh, g."""
    text = path.read_text()
    block = re.search(
        r"Actual consumption for (\d+) epoch\(s\):\n\tTime:\t(\d+):(\d\d):(\d\d)\n"
        r"\tEnergy:\t([\d.]+) kWh\n\tCO2eq:\t([\d.]+) g",
        text,
    )
    assert block is not None and text.count("Actual consumption") == 1
    epochs, h, m, s, kwh, grams = block.groups()
    return {
        "epochs": int(epochs),
        "seconds": int(h) * 3600 + int(m) * 60 + int(s),
        "kwh": float(kwh),
        "g": float(grams),
    }


@pytest.mark.parametrize("path", [CT_FULL, CT_STOPPED], ids=["full", "stopped"])
def test_a_real_carbontracker_2_log_imports_its_actual_consumption(cast: Cast, path: Path) -> None:
    assert detect_format(path.read_text()) == "carbontracker"
    expected = actual_report(path)
    report = import_file(cast.project, path.read_bytes(), filename=path.name)
    assert report.skipped == []
    assert (report.accepted, len(report.runs)) == (1, 1)
    run = Run.objects.get(pk=report.runs[0].run.pk)
    assert run.source == RunSource.IMPORT and run.status == "finished"
    assert run.experiment.name == "carbontracker"
    # No GPU in the log: the total is kept on the CPU, without CarbonTracker's PUE.
    assert run.cpu_energy_kwh == pytest.approx(expected["kwh"] / CARBONTRACKER_PUE, rel=1e-9)
    assert run.gpu_energy_kwh == 0 and run.gpu_hours == 0
    assert run.client_emissions_kg == pytest.approx(expected["g"] / 1000.0, rel=1e-9)
    assert run.duration_s == pytest.approx(expected["seconds"])
    assert run.hardware == {"cpu_model": "Intel(R) Xeon(R) Processor", "cpu_count": 1}
    # 2.x logs have no location: the run is placed like the project's other runs.
    assert "carbontracker_location" not in run.params
    (m,) = Measurement.objects.filter(run=run)
    assert m.epoch == expected["epochs"]
    assert m.cpu_method == "imported"

    again = import_file(cast.project, path.read_bytes(), filename=path.name)
    assert (again.accepted, again.duplicates) == (0, 1)
    assert again.already_imported is not None
    assert Measurement.objects.filter(run=run).count() == 1


def test_two_real_carbontracker_logs_are_two_runs(cast: Cast) -> None:
    for path in (CT_FULL, CT_STOPPED):
        import_file(cast.project, path.read_bytes())
    runs = Run.objects.filter(project=cast.project)
    assert runs.count() == 2
    total = sum(actual_report(p)["kwh"] for p in (CT_FULL, CT_STOPPED)) / CARBONTRACKER_PUE
    assert sum(r.cpu_energy_kwh for r in runs) == pytest.approx(total, rel=1e-9)


def test_carbontracker_2_logs_started_in_the_same_second_stay_apart(cast: Cast) -> None:
    # 2.x stamps whole seconds and the first line names the machine's components, so two
    # trackers of a sweep started together begin with the same line; their reports differ.
    real = CT_FULL.read_text()
    expected = actual_report(CT_FULL)
    twin = real.replace(f"{expected['kwh']:.12f} kWh", f"{expected['kwh'] * 2:.12f} kWh")
    assert twin != real and twin.splitlines()[0] == real.splitlines()[0]
    import_file(cast.project, real.encode())
    import_file(cast.project, twin.encode())
    energies = sorted(r.cpu_energy_kwh for r in Run.objects.filter(project=cast.project))
    one = expected["kwh"] / CARBONTRACKER_PUE
    assert energies == pytest.approx([one, 2 * one], rel=1e-9)


def test_the_carbontracker_debug_log_is_refused_with_the_right_file_named(cast: Cast) -> None:
    data = CT_DEBUG.read_bytes()
    assert detect_format(data.decode()) == "carbontracker"  # "carbontracker version 2.4.7"
    with pytest.raises(ImportRefused, match=r"upload \*_carbontracker_output\.log"):
        import_file(cast.project, data)
    assert Run.objects.count() == 0


def test_the_gco2eq_intensity_of_carbontracker_2_is_read() -> None:
    from api.importers.carbontracker import INTENSITY

    line = "2026-11-23 05:36:00 - CarbonTracker: Average carbon intensity during training was 445.00 gCO2eq/kWh. "
    found = INTENSITY.search(line)
    assert found is not None and found.group(1) == "445.00" and found.group(2) is None


# --- Eco2AI ------------------------------------------------------------------------------


def eco_rows(path: Path) -> dict[str, list[dict[str, str]]]:
    by_id: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            by_id[row["id"]].append(row)
    return dict(by_id)


def assert_runs_match_file(cast: Cast, path: Path) -> None:
    for tracker, rows in eco_rows(path).items():
        run = Run.objects.get(project=cast.project, run_key=f"eco2ai:{tracker}")
        assert run.measurement_count == len(rows)
        kwh = sum(float(r["power_consumption(kWh)"]) for r in rows)
        kg = sum(float(r["CO2_emissions(kg)"]) for r in rows)
        seconds = sum(float(r["duration(s)"]) for r in rows)
        assert run.cpu_energy_kwh == pytest.approx(kwh, rel=1e-9)  # no GPU: all on the CPU
        assert run.energy_kwh == pytest.approx(kwh, rel=1e-9)
        assert run.gpu_energy_kwh == 0
        assert run.client_emissions_kg == pytest.approx(kg, rel=1e-9)
        assert run.duration_s == pytest.approx(seconds, abs=1e-3)


def test_a_real_eco2ai_csv_imports_every_tracker_and_row(cast: Cast) -> None:
    assert detect_format(ECO.read_text()) == "eco2ai"
    file_rows = eco_rows(ECO)
    assert (len(file_rows), sum(len(r) for r in file_rows.values())) == (4, 6)
    report = import_file(cast.project, ECO.read_bytes(), filename="emission.csv")
    assert report.skipped == []
    assert (report.accepted, len(report.runs)) == (6, 4)
    assert_runs_match_file(cast, ECO)

    runs = {r.params["eco2ai_location"]: r for r in Run.objects.filter(project=cast.project)}
    assert set(runs) == {"FR", "US/California", "(DE)", "SE"}
    # "US/California": the region is a zone the hub knows; "(DE)" (set with emission_level).
    assert (runs["US/California"].country, runs["US/California"].region) == ("USA", "California")
    assert runs["US/California"].zone.startswith("USA-")
    assert runs["FR"].zone == "FRA" and runs["(DE)"].zone == "DEU" and runs["SE"].country == "SWE"
    assert all(not r.params.get("location_note") for r in runs.values())

    training = runs["US/California"]
    assert training.experiment.name == "hub-real-fixture" and training.name == "busy loop, 3 epochs"
    epochs = Measurement.objects.filter(run=training).values_list("epoch", flat=True)
    assert sorted(epochs) == [1, 2, 3]
    assert Measurement.objects.filter(run=runs["FR"]).get().epoch is None  # an empty cell
    # Eco2AI's own names for an unnamed tracker.
    assert runs["SE"].experiment.name == "eco2ai" and runs["SE"].name == ""
    for run in runs.values():
        assert run.hardware == {
            "cpu_model": "Intel(R) Xeon(R) Processor",
            "cpu_count": 1,
            "cpu_tdp_w": 61.0,
        }
        assert run.gpu_hours == 0

    again = import_file(cast.project, ECO.read_bytes(), filename="emission.csv")
    assert (again.accepted, again.duplicates) == (0, 6)
    assert Measurement.objects.filter(run__project=cast.project).count() == 6


def test_a_rewritten_real_eco2ai_csv_adds_only_the_new_rows(cast: Cast) -> None:
    before, after = ECO_GROWING
    # Eco2AI rewrote the file: the first tracker's epoch went from N/A to an empty cell.
    assert before.read_text().splitlines()[1] != after.read_text().splitlines()[1]
    assert import_file(cast.project, before.read_bytes()).accepted == 1
    report = import_file(cast.project, after.read_bytes())
    assert (report.accepted, report.duplicates) == (2, 1)
    assert_runs_match_file(cast, after)


def test_a_real_eco2ai_csv_written_with_pandas_3_imports_as_written(cast: Cast) -> None:
    report = import_file(cast.project, ECO_PANDAS3.read_bytes())
    assert report.skipped == [] and report.accepted == 5
    assert_runs_match_file(cast, ECO_PANDAS3)
    assert import_file(cast.project, ECO_PANDAS3.read_bytes()).accepted == 0
