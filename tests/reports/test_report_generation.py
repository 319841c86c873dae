from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

import carbon
from api import queries
from api.models import Project
from reports.formatting import mwh, tonnes
from reports.models import ContractualInstrument, Report, ReportFile, ReportStatus
from reports.rounding import PLACES, fmt, rounded
from tests.cast import Cast
from tests.reports.seed_reports import seed

Q3_START = "2026-07-01T00:00:00Z"
Q3_END = "2026-10-01T00:00:00Z"


def _generate(cast: Cast, capture: Any, role: str = "member", **post: Any) -> Report:
    client = cast.client_for(role)
    data = {
        "org": str(cast.org.uuid),
        "period_kind": "quarter",
        "quarter": "2026Q3",
        "scope": "all",
        **post,
    }
    with capture(execute=True):
        response = client.post(f"/reports/?org={cast.org.uuid}", data)
    assert response.status_code == 302, response.content[:2000]
    report = Report.objects.order_by("-id").first()
    assert report is not None
    assert report.status == ReportStatus.DONE, report.error
    return report


def _file(report: Report, fmt_: str) -> bytes:
    return bytes(ReportFile.objects.get(report=report, format=fmt_).content)


@pytest.fixture
def seeded(cast: Cast) -> dict[str, Any]:
    data = seed(cast)
    ContractualInstrument.objects.create(
        organisation=cast.org,
        kind="ppa",
        zone="FRA",
        period_start="2026-01-01",
        period_end="2026-12-31",
        mwh=1.0,
        g_per_kwh=0.0,
    )
    ContractualInstrument.objects.create(
        organisation=cast.org,
        kind="go",
        zone="NLD",
        period_start="2026-07-01",
        period_end="2026-09-30",
        share_pct=50.0,
    )
    return data


def test_the_json_totals_equal_the_organisation_api_totals(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    doc = json.loads(_file(report, "json"))
    api = (
        cast.client_for("viewer")
        .get(f"/api/v1/organisations/{cast.org.uuid}?start={Q3_START}&end={Q3_END}")
        .json()
    )
    totals = doc["data"]["totals"]
    for name in (
        "energy_kwh",
        "facility_energy_kwh",
        "emissions_kg",
        "measured_energy_kwh",
        "imported_energy_kwh",
        "gpu_hours",
        "run_count",
        "measurement_count",
    ):
        assert totals[name] == pytest.approx(api[name], rel=1e-12), name
    summary = doc["data"]["summary"]
    assert summary["energy_mwh"] == rounded(api["energy_kwh"] / 1000.0, PLACES["mwh"])
    assert summary["location_t"] == rounded(api["emissions_kg"] / 1000.0, PLACES["t"])
    by_api = {p["project_id"]: p for p in api["by_project"]}
    for p in doc["data"]["projects"]:
        if p["id"] in by_api:
            assert p["emissions_kg"] == pytest.approx(by_api[p["id"]]["emissions_kg"], rel=1e-12)
    assert doc["data_sha256"] == report.data_sha256
    assert report.dataset_versions == [carbon.DEFAULT_VERSION]


def test_a_project_report_equals_the_project_summary_api(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    nlp = seeded["nlp"]
    report = _generate(
        cast, django_capture_on_commit_callbacks, scope="projects", projects=[str(nlp.pk)]
    )
    assert list(report.scope_projects()) == [nlp]
    doc = json.loads(_file(report, "json"))
    api = (
        cast.client_for("member")
        .get(f"/api/v1/projects/{nlp.uuid}/summary?start={Q3_START}&end={Q3_END}")
        .json()
    )
    assert doc["data"]["totals"]["emissions_kg"] == pytest.approx(api["emissions_kg"], rel=1e-12)
    assert doc["data"]["summary"]["energy_mwh"] == rounded(
        api["energy_kwh"] / 1000.0, PLACES["mwh"]
    )
    # Cloud use is Scope 3 category 1 only.
    e6 = doc["data"]["esrs_e1_6"]
    assert e6["scope2_location_kg"] == 0.0
    assert e6["scope3_cat1_location_kg"] == pytest.approx(api["emissions_kg"])


def test_the_csv_rows_sum_to_the_totals(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    rows = list(csv.DictReader(io.StringIO(_file(report, "csv").decode())))
    totals = queries.usage_totals(
        Project.objects.filter(organisation=cast.org),
        Report.objects.get(pk=report.pk).period_start,
        report.period_end,
    )
    for name in (
        "energy_kwh",
        "facility_energy_kwh",
        "emissions_kg",
        "gpu_energy_kwh",
        "imported_energy_kwh",
    ):
        assert sum(float(r[name]) for r in rows) == pytest.approx(totals[name], rel=1e-12), name
    assert sum(int(r["measurement_count"]) for r in rows) == totals["measurement_count"]
    assert {r["month"] for r in rows} == {"2026-07", "2026-08", "2026-09"}
    # The GCP europe-west4 runs carry Google's own factor for the region.
    assert {r["zone"] for r in rows} == {"FRA", "GCP-EUROPE-WEST4", "WORLD"}


def test_the_workbook_has_the_same_rounded_totals(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    data = json.loads(_file(report, "json"))["data"]
    wb = load_workbook(io.BytesIO(_file(report, "xlsx")))
    assert {
        "Summary",
        "Projects",
        "Zones",
        "Factors",
        "Market-based",
        "ESRS",
        "Data gaps",
        "Top runs",
        "Methodology",
        "Detail",
    } <= set(wb.sheetnames)
    ws = wb["Summary"]
    assert ws["A6"].value == "IT energy (MWh)"
    assert ws["B6"].value == data["summary"]["energy_mwh"]
    assert ws["B8"].value == data["summary"]["location_t"]
    assert ws["B9"].value == data["summary"]["market_t"]
    projects = {row[0].value: row for row in wb["Projects"].iter_rows(min_row=2) if row[0].value}
    assert projects["vision"][5].value == rounded(
        next(p for p in data["projects"] if p["name"] == "vision")["emissions_kg"] / 1000.0,
        PLACES["t"],
    )
    assert "Market-based emissions" in [c.value for c in wb["Methodology"]["A"]]


def test_the_pdf_shows_the_key_figures_and_page_numbers(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    data = json.loads(_file(report, "json"))["data"]
    reader = PdfReader(io.BytesIO(_file(report, "pdf")))
    pages = [p.extract_text() for p in reader.pages]
    text = "\n".join(pages)
    s = data["summary"]
    for figure in (
        mwh(s["energy_kwh"]),
        tonnes(s["location_kg"]),
        tonnes(s["market_kg"]),
        mwh(s["facility_energy_kwh"]),
    ):
        assert figure in text
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    for heading in (
        "ESRS E1-6",
        "ESRS E1-5",
        "Data gaps",
        "Methodology and defaults",
        "Emission factors applied",
        "Top ",
    ):
        assert heading in text
    e6 = data["esrs_e1_6"]
    assert tonnes(e6["scope2_market_kg"]) in text
    assert carbon.DEFAULT_VERSION in text and "Ember" in text


# The residual mix sits on the same basis as the location-based figures beside it.
def residual_lifecycle(zone: str) -> float:
    return carbon.get_dataset().residual_mix(zone, "lifecycle").g_per_kwh


def test_market_based_follows_the_instruments(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    data = json.loads(_file(report, "json"))["data"]
    lines = {(ln["zone"], ln["scope"]): ln for ln in data["market"]["lines"]}
    fra = lines[("FRA", "scope2")]
    # 1 MWh over 2026 prorated to Q3 (92 of 365 days), all of it used by owned French hardware.
    covered = 1000.0 * 92 / 365
    assert fra["covered_kwh"] == pytest.approx(covered)
    assert fra["market_kg"] == pytest.approx(
        (fra["facility_energy_kwh"] - covered) * residual_lifecycle("FRA") / 1000.0
    )  # AIB's direct 50 g/kWh for France, brought to the organisation's lifecycle basis
    nld = lines[("NLD", "scope3")]
    assert nld["covered_kwh"] == pytest.approx(nld["facility_energy_kwh"] / 2)
    assert nld["market_kg"] == pytest.approx(
        nld["facility_energy_kwh"] / 2 * residual_lifecycle("NLD") / 1000.0
    )
    world = lines[("WORLD", "scope2")]
    assert world["residual"]["is_fallback"] is True
    assert world["market_kg"] == pytest.approx(world["location_kg"])
    assert data["summary"]["market_kg"] == pytest.approx(
        sum(ln["market_kg"] for ln in data["market"]["lines"])
    )


def test_gaps_comparisons_and_e1_5_come_from_the_seeded_data(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    data = json.loads(_file(report, "json"))["data"]
    runs = seeded["runs"]
    gaps = data["gaps"]
    assert gaps["lost_run_count"] == 1 and gaps["lost_runs"][0]["name"] == "v3-lost"
    assert gaps["location_unknown_energy_kwh"] == pytest.approx(runs["u1"].energy_kwh)
    assert gaps["imported_energy_kwh"] == pytest.approx(runs["n1"].energy_kwh)
    prev = data["summary"]["comparisons"]["previous_period"]
    assert prev["label"] == "2026Q2" and prev["energy_kwh"] == pytest.approx(
        runs["prev"].energy_kwh
    )
    year = data["summary"]["comparisons"]["same_period_last_year"]
    assert year["label"] == "2025Q3" and year["location_kg"] == pytest.approx(
        runs["yearago"].emissions_kg
    )
    e5 = data["esrs_e1_5"]
    assert sum(e5["total"].values()) == pytest.approx(data["totals"]["facility_energy_kwh"])
    assert e5["mixes"]["WORLD"] is None
    assert e5["own_operations"]["nuclear"] > 0  # France's mix
    assert data["top_runs"][0]["emissions_kg"] >= data["top_runs"][-1]["emissions_kg"]
    assert data["intensity"]["kg_per_run"] == pytest.approx(data["totals"]["emissions_kg"] / 5)


def test_regenerating_gives_the_same_numbers_and_checksum(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    first = _generate(cast, django_capture_on_commit_callbacks)
    client = cast.client_for("member")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/reports/{first.uuid}/regenerate")
    assert response.status_code == 302
    second = Report.objects.exclude(pk=first.pk).get()
    assert second.status == ReportStatus.DONE
    assert second.data_sha256 == first.data_sha256
    a = json.loads(_file(first, "json"))
    b = json.loads(_file(second, "json"))
    assert a["data"] == b["data"]
    assert a["meta"]["report_id"] != b["meta"]["report_id"]
    assert _file(first, "csv") == _file(second, "csv")


def test_progress_is_reported_by_the_status_endpoint(
    cast: Cast, seeded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    status = cast.client_for("viewer").get(f"/reports/{report.uuid}/status.json").json()
    assert (
        status["status"] == "done" and status["progress_pct"] == 100 and status["finished"] is True
    )
    assert {f["format"] for f in status["files"]} == {"pdf", "csv", "xlsx", "json"}
    assert fmt(1.0, 1) == "1.0"
