"""Reports of an unfinished and of a finished quarter: to date, like for like, and the
two ranges of every comparison stated in each format (PDF, CSV, XLSX, JSON).

"Now" is 16 Nov 2026 09:20 UTC, patched into ``django.utils.timezone.now`` while the
report is requested and generated. 2026Q4 then has complete data from 1 Oct 00:00 to
16 Nov 09:00 (46 days 9 hours) and is compared with 1 Jul 00:00 to 16 Aug 09:00 and with
1 Oct 2025 00:00 to 16 Nov 2025 09:00. Runs sit on both sides of each edge.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from api.models import Run
from reports.models import Report, ReportFile, ReportStatus
from tests.cast import Cast
from tests.reports.seed_reports import add_run

NOW = datetime(2026, 11, 16, 9, 20, tzinfo=UTC)

Q4_TEXT = (
    "1 Oct 2026 00:00 to 16 Nov 2026 09:00 UTC (to date) compared with "
    "1 Jul 2026 00:00 to 16 Aug 2026 09:00 UTC (the first 46 days 9 hours of the previous quarter)"
)
Q4_YEAR_TEXT = (
    "1 Oct 2026 00:00 to 16 Nov 2026 09:00 UTC (to date) compared with "
    "1 Oct 2025 00:00 to 16 Nov 2025 09:00 UTC "
    "(the first 46 days 9 hours of the same quarter a year before)"
)
Q3_TEXT = "1 Jul 2026 to 30 Sep 2026 compared with 1 Apr 2026 to 30 Jun 2026 (the previous quarter)"
Q3_YEAR_TEXT = (
    "1 Jul 2026 to 30 Sep 2026 compared with 1 Jul 2025 to 30 Sep 2025 "
    "(the same quarter a year before)"
)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def runs(cast: Cast) -> dict[str, Run]:
    """One-hour measurements of 50 kWh (IT) in the French project, around every edge."""
    spots = {
        "cur": (at(2026, 10, 10), 4),
        "cur-last-hour": (at(2026, 11, 16, 8), 1),  # the last complete hour: included
        "cur-this-hour": (at(2026, 11, 16, 9), 1),  # the hour still running: left out
        "prev-early": (at(2026, 7, 5), 3),
        "prev-edge-in": (at(2026, 8, 16, 8), 1),
        "prev-edge-out": (at(2026, 8, 16, 9), 2),  # after the same elapsed time
        "prev-late": (at(2026, 9, 20), 5),
        "year-early": (at(2025, 10, 12), 2),
        "year-edge-out": (at(2025, 11, 16, 9), 1),
        "year-late": (at(2025, 12, 20), 6),
        "q2": (at(2026, 5, 10), 3),
        "q3-2025": (at(2025, 8, 1), 2),
    }
    return {key: add_run(cast.project, key, start, hours) for key, (start, hours) in spots.items()}


def _energy(runs: dict[str, Run], *keys: str) -> float:
    return sum(runs[k].energy_kwh for k in keys)


def _generate(
    cast: Cast, capture: Any, monkeypatch: pytest.MonkeyPatch, quarter: str
) -> tuple[Report, dict[str, bytes]]:
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    client = cast.client_for("member")
    with capture(execute=True):
        response = client.post(
            f"/reports/?org={cast.org.uuid}",
            {
                "org": str(cast.org.uuid),
                "period_kind": "quarter",
                "quarter": quarter,
                "scope": "all",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    report = Report.objects.order_by("-id").first()
    assert report is not None and report.status == ReportStatus.DONE, report and report.error
    files = {f.format: bytes(f.content) for f in ReportFile.objects.filter(report=report)}
    return report, files


def _pdf_pages(content: bytes) -> list[str]:
    return [
        " ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(content)).pages
    ]


def test_the_json_of_an_unfinished_quarter_is_to_date_and_like_for_like(
    cast: Cast, runs: dict[str, Run], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    _, files = _generate(cast, django_capture_on_commit_callbacks, monkeypatch, "2026Q4")
    data = json.loads(files["json"])["data"]
    period = data["period"]
    assert period["to_date"] is True
    assert (period["start"], period["end"]) == (
        "2026-10-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    )
    assert (period["data_start"], period["data_end"]) == (
        "2026-10-01T00:00:00+00:00",
        "2026-11-16T09:00:00+00:00",
    )
    assert period["title"] == "2026Q4, to date: data up to 16 Nov 2026 09:00 UTC"
    now_kwh = _energy(runs, "cur", "cur-last-hour")
    assert data["totals"]["energy_kwh"] == pytest.approx(now_kwh)
    assert data["totals"]["run_count"] == 2
    prev = data["summary"]["comparisons"]["previous_period"]
    assert (prev["label"], prev["start"], prev["end"]) == (
        "2026Q3",
        "2026-07-01T00:00:00+00:00",
        "2026-08-16T09:00:00+00:00",
    )
    before_kwh = _energy(runs, "prev-early", "prev-edge-in")
    assert prev["energy_kwh"] == pytest.approx(before_kwh)
    like = (now_kwh - before_kwh) / before_kwh * 100.0
    naive = (
        _energy(runs, "cur", "cur-last-hour", "cur-this-hour")
        / _energy(runs, "prev-early", "prev-edge-in", "prev-edge-out", "prev-late")
        - 1.0
    ) * 100.0
    assert prev["change_pct"]["energy_kwh"] == pytest.approx(like)  # +25 %
    assert abs(like - naive) > 50  # the naive rule would say -45 %
    assert prev["text"] == Q4_TEXT
    year = data["summary"]["comparisons"]["same_period_last_year"]
    assert (year["label"], year["start"], year["end"]) == (
        "2025Q4",
        "2025-10-01T00:00:00+00:00",
        "2025-11-16T09:00:00+00:00",
    )
    assert year["energy_kwh"] == pytest.approx(_energy(runs, "year-early"))
    assert year["text"] == Q4_YEAR_TEXT
    assert {m["month"] for m in data["monthly"]} == {"2026-10", "2026-11"}


def test_every_format_of_an_unfinished_quarter_says_to_date_and_states_the_ranges(
    cast: Cast, runs: dict[str, Run], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    report, files = _generate(cast, django_capture_on_commit_callbacks, monkeypatch, "2026Q4")
    title = "2026Q4, to date: data up to 16 Nov 2026 09:00 UTC"

    rows = list(csv.DictReader(io.StringIO(files["csv"].decode())))
    assert rows and all(
        (r["period"], r["data_start"], r["data_end"], r["to_date"])
        == (title, "2026-10-01T00:00:00+00:00", "2026-11-16T09:00:00+00:00", "True")
        for r in rows
    )
    assert sum(float(r["energy_kwh"]) for r in rows) == pytest.approx(
        _energy(runs, "cur", "cur-last-hour")
    )

    ws = load_workbook(io.BytesIO(files["xlsx"]))["Summary"]
    assert title in ws["A1"].value
    assert (
        "to date: figures cover 2026-10-01T00:00:00+00:00 to 2026-11-16T09:00:00+00:00"
        in ws["A2"].value
    )
    assert ws["B5"].value == "This period (to date)"
    assert "1 Jul 2026 00:00 to 16 Aug 2026 09:00 UTC" in ws["C5"].value
    assert "1 Oct 2025 00:00 to 16 Nov 2025 09:00 UTC" in ws["E5"].value
    labelled = {row[0].value: row[1].value for row in ws.iter_rows(min_row=10, max_col=2)}
    assert labelled["Previous period"] == Q4_TEXT
    assert labelled["Year before"] == Q4_YEAR_TEXT

    pages = _pdf_pages(files["pdf"])
    assert "To date. The period had not ended when this report was generated" in pages[0]
    assert f"Previous: {Q4_TEXT}." in pages[0] and f"Year before: {Q4_YEAR_TEXT}." in pages[0]
    assert "+25.0 %" in pages[0]
    assert all(f"Carbon report - Acme AI - {title}" in p for p in pages)  # every page's header

    detail = cast.client_for("viewer").get(f"/reports/{report.uuid}/").content.decode()
    assert "To date: the period had not ended when this report was generated" in detail
    listing = cast.client_for("viewer").get(f"/reports/?org={cast.org.uuid}").content.decode()
    assert "2026-10-01 to 2026-12-31 (to date when generated)" in listing


def test_a_finished_quarter_is_compared_with_whole_quarters(
    cast: Cast, runs: dict[str, Run], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    report, files = _generate(cast, django_capture_on_commit_callbacks, monkeypatch, "2026Q3")
    data = json.loads(files["json"])["data"]
    period = data["period"]
    assert period["to_date"] is False and period["data_end"] == period["end"]
    assert period["title"] == "2026Q3"
    assert data["totals"]["energy_kwh"] == pytest.approx(
        _energy(runs, "prev-early", "prev-edge-in", "prev-edge-out", "prev-late")
    )
    prev = data["summary"]["comparisons"]["previous_period"]
    assert (prev["label"], prev["start"], prev["end"], prev["to_date"]) == (
        "2026Q2",
        "2026-04-01T00:00:00+00:00",
        "2026-07-01T00:00:00+00:00",
        False,
    )
    assert prev["energy_kwh"] == pytest.approx(runs["q2"].energy_kwh)
    assert prev["text"] == Q3_TEXT
    year = data["summary"]["comparisons"]["same_period_last_year"]
    assert (year["label"], year["energy_kwh"]) == (
        "2025Q3",
        pytest.approx(runs["q3-2025"].energy_kwh),
    )
    assert year["text"] == Q3_YEAR_TEXT

    rows = list(csv.DictReader(io.StringIO(files["csv"].decode())))
    assert rows and {(r["period"], r["to_date"]) for r in rows} == {("2026Q3", "False")}
    ws = load_workbook(io.BytesIO(files["xlsx"]))["Summary"]
    assert ws["B5"].value == "This period" and "to date" not in ws["A2"].value
    assert "1 Apr 2026 to 30 Jun 2026" in ws["C5"].value
    labelled = {row[0].value: row[1].value for row in ws.iter_rows(min_row=10, max_col=2)}
    assert (labelled["Previous period"], labelled["Year before"]) == (Q3_TEXT, Q3_YEAR_TEXT)
    pages = _pdf_pages(files["pdf"])
    assert f"Previous: {Q3_TEXT}." in pages[0] and f"Year before: {Q3_YEAR_TEXT}." in pages[0]
    assert "To date." not in pages[0] and "This period, to date" not in pages[0]
    assert all("Carbon report - Acme AI - 2026Q3 Emissions Hub" in p for p in pages)
    detail = cast.client_for("viewer").get(f"/reports/{report.uuid}/").content.decode()
    assert "data-to-date" not in detail


def test_a_to_date_report_regenerated_in_the_same_hour_has_the_same_checksum(
    cast: Cast, runs: dict[str, Run], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    first, _ = _generate(cast, django_capture_on_commit_callbacks, monkeypatch, "2026Q4")
    second, _ = _generate(cast, django_capture_on_commit_callbacks, monkeypatch, "2026Q4")
    assert first.data_sha256 == second.data_sha256
    monkeypatch.setattr("django.utils.timezone.now", lambda: at(2026, 11, 16, 10, 5))
    from reports.build import build_report_data, data_checksum
    from reports.generate import period_of

    later = build_report_data(cast.org, cast.org.projects.all(), True, period_of(first))
    assert later["period"]["data_end"] == "2026-11-16T10:00:00+00:00"
    assert later["totals"]["energy_kwh"] == pytest.approx(
        _energy(runs, "cur", "cur-last-hour", "cur-this-hour")
    )
    assert data_checksum(later) != first.data_sha256
