"""Names people type cannot turn an exported file against its reader.

An organisation whose project, experiment, run and instrument names are spreadsheet
formulas, markup or LaTeX commands gets every report format and both statements; each
file is reopened the way its reader would (csv module, openpyxl, pypdf, a CommonMark
parser) and must show the names as plain text, never as a formula, a link or a command.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from markdown_it import MarkdownIt
from openpyxl import load_workbook
from pypdf import PdfReader

from api.models import Experiment, Run
from reports.formatting import FORMULA_START, csv_cell, latex_text, markdown_text
from reports.models import ContractualInstrument
from tests.cast import Cast
from tests.reports.seed_reports import add_run, seed
from tests.reports.test_report_generation import _file, _generate

# Cells a spreadsheet would read as a formula (OWASP, CSV Injection:
# https://owasp.org/www-community/attacks/CSV_Injection), plus an error literal.
FORMULA_NAMES = {
    "vision": '=HYPERLINK("http://x","y")',
    "nlp": "+cmd|' /C calc'!A0",
    "misc": "-2+3",
}
RUN_NAMES = {
    "v1-train": "@SUM(A1)",
    "v2-train": "\t=1+1",
    "n1-import": "\r=1+1",
    "u1-nowhere": "#REF!",
}
MARKUP = "<b>bold</b> & <font color=red>co</font>"


@pytest.fixture
def hostile(cast: Cast) -> dict[str, Any]:
    data = seed(cast)
    cast.org.name = MARKUP
    cast.org.save(update_fields=["name"])
    for key, name in FORMULA_NAMES.items():
        data[key].name = name
        data[key].save(update_fields=["name"])
    for run in data["runs"].values():
        if run.run_key in RUN_NAMES:
            Run.objects.filter(pk=run.pk).update(name=RUN_NAMES[run.run_key])
    Experiment.objects.filter(project__organisation=cast.org, name="baseline").update(name=MARKUP)
    ContractualInstrument.objects.create(
        organisation=cast.org,
        kind="go",
        zone="FRA",
        period_start="2026-07-01",
        period_end="2026-09-30",
        share_pct=50.0,
        notes='=WEBSERVICE("http://x")',
    )
    return data


def test_csv_text_cells_never_start_a_formula_and_numbers_stay_numbers(
    cast: Cast, hostile: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    rows = list(csv.DictReader(io.StringIO(_file(report, "csv").decode())))
    assert {r["project"] for r in rows} == {"'" + n for n in FORMULA_NAMES.values()}
    for row in rows:
        for cell in row.values():
            if cell.startswith(FORMULA_START):
                float(cell)  # only a number may start like a formula
        assert float(row["emissions_kg"]) > 0
    # The apostrophe is added to text only: a negative number is written as a number.
    assert csv_cell(-2.5) == "-2.5" and csv_cell("-2.5") == "'-2.5"
    assert [csv_cell(v) for v in (3, None, True, "ok")] == [3, None, True, "ok"]


def test_xlsx_text_cells_are_strings_never_formulas(
    cast: Cast, hostile: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    wb = load_workbook(io.BytesIO(_file(report, "xlsx")))
    texts: dict[str, Any] = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
                    assert cell.quotePrefix, (ws.title, cell.coordinate)  # text when edited
                    texts[cell.value] = cell
    names = [*FORMULA_NAMES.values(), *RUN_NAMES.values(), '=WEBSERVICE("http://x")']
    for name in names:
        # Exactly the name, nothing added; XML reads a carriage return as a line feed.
        assert name.replace("\r", "\n") in texts, name
    assert MARKUP in texts
    # Figures are still numbers.
    projects = {r[0].value: r for r in wb["Projects"].iter_rows(min_row=2) if r[0].value}
    assert isinstance(projects[FORMULA_NAMES["vision"]][5].value, float)


def test_pdf_prints_markup_in_names_as_text(
    cast: Cast, hostile: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    report = _generate(cast, django_capture_on_commit_callbacks)
    reader = PdfReader(io.BytesIO(_file(report, "pdf")))
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    assert f"Energy and carbon report: {MARKUP}" in text
    assert FORMULA_NAMES["vision"] in text


EVIL_RUN = "[click](http://x) ![i](http://x/i.png) <img src=x onerror=alert(1)> *b* | c\n\n# h"


def _statement(cast: Cast, ext: str, *, name: str = EVIL_RUN, gpu: str = "A100") -> str:
    run = add_run(
        cast.project,
        "evil",
        datetime(2026, 7, 5, tzinfo=UTC),
        2,
        name=name,
        experiment="exp_1 [x](http://x)",
        hardware={"gpu_model": gpu, "gpu_count": 1},
    )
    response = cast.client_for("viewer").get(f"/reports/statement/run/{run.uuid}.{ext}")
    assert response.status_code == 200
    return response.content.decode()


def test_markdown_statement_shows_names_as_text(cast: Cast) -> None:
    md = _statement(cast, "md", gpu="H100 | <script>x</script>")
    html = MarkdownIt("commonmark").enable("table").render(md)
    for tag in ("<a ", "<img", "<script", "<em>b", "<h1"):
        assert tag not in html, tag
    assert "[click](http://x)" in html and "&lt;script&gt;x&lt;/script&gt;" in html
    # Every line of the facts is one row of two cells.
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert len(rows) == 9 and all(r.count("<td>") == 2 for r in rows[1:])
    assert markdown_text("a_b*c") == "a\\_b\\*c"


def test_latex_statement_cannot_run_commands_or_end_the_caption(cast: Cast) -> None:
    name = "\\input{/etc/passwd} $x$ <a> |\n\nnext"
    tex = _statement(cast, "tex", name=name, gpu="\\def\\x{1} ~^%#&_")
    assert "\\input{" not in tex and "\\def" not in tex
    assert "\n\n" not in tex  # a blank line would end the caption's paragraph: an error
    assert "\\textless{}a\\textgreater{} \\textbar{}" in tex
    assert latex_text("50% & $x_1$") == "50\\% \\& \\$x\\_1\\$"
