"""Every report format names the one factor basis of its figures."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import load_workbook
from pypdf import PdfReader

from api.aggregates import apply_basis
from tests.cast import Cast
from tests.reports.seed_reports import seed
from tests.reports.test_report_generation import _file, _generate


def test_every_format_states_the_basis_and_no_factor_of_another_basis(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    seed(cast)
    apply_basis(cast.org, "direct")
    report = _generate(cast, django_capture_on_commit_callbacks)
    data = json.loads(_file(report, "json"))["data"]
    assert data["basis"]["id"] == "direct"
    assert data["basis"]["factor_bases"] == ["direct"]
    assert {f["basis"] for f in data["factors"]} == {"direct"}
    assert any(m["title"] == "Factor basis" for m in data["methodology"])
    rows = list(csv.DictReader(io.StringIO(_file(report, "csv").decode())))
    assert rows and {r["factor_basis"] for r in rows} == {"direct"}
    book = load_workbook(io.BytesIO(_file(report, "xlsx")))
    assert "direct combustion" in str(book["Summary"]["A4"].value)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(_file(report, "pdf"))).pages)
    assert "Factor basis: direct combustion" in text


def test_a_report_of_figures_on_two_bases_warns_in_every_format(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    from api.accounting import factor_record
    from api.models import UsageHour

    seed(cast)
    # As if a basis change were half applied: one hour row still on the other basis.
    row = UsageHour.objects.filter(project__organisation=cast.org).first()
    assert row is not None
    row.factor = factor_record(row.zone, row.factor.dataset_version, basis="direct")
    row.save()
    report = _generate(cast, django_capture_on_commit_callbacks)
    data = json.loads(_file(report, "json"))["data"]
    assert data["basis"]["mixed"] is True
    assert data["basis"]["factor_bases"] == ["direct", "lifecycle"]
    book = load_workbook(io.BytesIO(_file(report, "xlsx")))
    assert "WARNING" in str(book["Summary"]["A4"].value)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(_file(report, "pdf"))).pages)
    assert "WARNING: some figures" in text
    rows = list(csv.DictReader(io.StringIO(_file(report, "csv").decode())))
    assert {r["factor_basis"] for r in rows} == {"direct", "lifecycle"}


def test_the_methodology_quotes_the_world_average_on_the_report_s_basis(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    import carbon

    seed(cast)
    apply_basis(cast.org, "direct")
    data = json.loads(_file(_generate(cast, django_capture_on_commit_callbacks), "json"))["data"]
    text = " ".join(m["text"] for m in data["methodology"])
    world = carbon.get_dataset().factor(carbon.WORLD_ZONE, "direct").g_per_kwh
    assert f"world average {world:g} g CO2e/kWh" in text
    assert f"{carbon.get_dataset().world.g_per_kwh:g} g CO2e/kWh" not in text
