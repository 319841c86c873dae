"""No stored value breaks a page: hostile values written straight through the models
(as old data, or a future bug, would leave them, with no API check in between) are shown
escaped on every page, in every API answer and in every report format and statement.

Hostile here: numbers beyond a float (10**400, a Python int, which PostgreSQL's jsonb
keeps as an exact numeric and gives back as the same int), the largest float, deeply
nested JSON, long texts, names with HTML or JavaScript, names starting like a
spreadsheet formula, LaTeX commands, right-to-left marks and emoji, runs dated in the
years 1 and 9999 (both fit PostgreSQL's timestamptz and Python's datetime), runs of zero
and negative duration, and zero energies.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from api.models import Experiment, ImportedFile, Project, Run, RunStatus
from reports.generate import generate
from reports.models import Report, ReportFile, ReportFormat
from tests.cast import Cast
from tests.dashboards.dash_data import make_run

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULAS = ['=HYPERLINK("http://evil.test","x")', "+1+1", "-2+3", "@SUM(A1:A9)"]
LATEX = r"50% & $x_1$ \input{/etc/passwd}"
UNICODE = "\u202eevil\u202c \U0001f525 \u05e9\u05dc\u05d5\u05dd"
HUGE = 10**400
# What must never appear as such in a page: the hostile markup, live.
LIVE = (SCRIPT, "<img src=x onerror")
FIRST_YEAR = datetime(1, 1, 1, tzinfo=UTC)
LAST_YEAR = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def nested(depth: int) -> Any:
    value: Any = SCRIPT
    for _ in range(depth):
        value = {"d": [value]}
    return value


HOSTILE_JSON: dict[str, Any] = {
    "accuracy": HUGE,
    "loss": -HUGE,
    "largest": 1.7976931348623157e308,
    "tiny": 5e-324,
    SCRIPT: 0.5,
    IMG: IMG,
    **{f: f for f in FORMULAS},
    UNICODE: UNICODE,
    "nested": nested(300),
    "long": "x" * 100_000,
    "list": [HUGE, SCRIPT, None, True],
}


@pytest.fixture
def hostile(cast: Cast) -> dict[str, Any]:
    """The organisation, its project, an experiment and runs full of hostile values."""
    cast.org.name = f"{IMG} {UNICODE}"
    cast.org.save()
    project = cast.project
    project.name = SCRIPT
    project.public_token = "hostile-public-token"
    project.save()
    runs: dict[str, Run] = {}
    for key, name in [
        ("main", FORMULAS[0]),
        ("dates", LATEX),
        ("zero", UNICODE),
        ("negative", IMG),
    ]:
        runs[key] = make_run(
            project, f"{SCRIPT}{key}", experiment=SCRIPT, name=name, status="finished"
        )
    Run.objects.filter(pk=runs["main"].pk).update(
        metrics=HOSTILE_JSON,
        params=HOSTILE_JSON,
        software={SCRIPT: IMG},
        tags=[SCRIPT, IMG, *FORMULAS, HUGE, "x" * 10_000],
        hardware={
            "gpu_model": IMG,
            "gpu_count": HUGE,
            "cpu_model": SCRIPT,
            "cpu_count": "eight",
            "ram_gb": 1.7976931348623157e308,
            "nested": nested(300),
        },
    )
    now = timezone.now()
    Run.objects.filter(pk=runs["dates"].pk).update(
        started_at=FIRST_YEAR, ended_at=LAST_YEAR, first_start=FIRST_YEAR, last_end=LAST_YEAR
    )
    Run.objects.filter(pk=runs["zero"].pk).update(
        started_at=now - timedelta(hours=1),
        ended_at=now - timedelta(hours=1),
        duration_s=0.0,
        energy_kwh=0.0,
        cpu_energy_kwh=0.0,
        gpu_energy_kwh=0.0,
        ram_energy_kwh=0.0,
        measured_energy_kwh=0.0,
        emissions_kg=0.0,
        gpu_hours=0.0,
        hardware={"gpu_model": "A100", "gpu_count": 0},
    )
    Run.objects.filter(pk=runs["negative"].pk).update(
        ended_at=now - timedelta(hours=3), duration_s=-60.0, gpu_hours=-1.0
    )
    # A second project whose name, and its run's, read as spreadsheet formulas.
    formula = Project.objects.create(organisation=cast.org, name=FORMULAS[0], country="FRA")
    runs["formula"] = make_run(formula, FORMULAS[1], name=FORMULAS[3], status="finished")
    runs["future"] = make_run(project, "future", experiment=SCRIPT, intervals=0)
    Run.objects.filter(pk=runs["future"].pk).update(
        started_at=LAST_YEAR, last_seen_at=LAST_YEAR, status=RunStatus.RUNNING
    )
    experiment = Experiment.objects.get(project=project, name=SCRIPT)
    experiment.description = IMG
    experiment.save()
    ImportedFile.objects.create(
        project=project,
        sha256="0" * 64,
        filename=SCRIPT,
        format="codecarbon",
        size_bytes=1,
        accepted=0,
        duplicates=0,
        skipped=[{"line": 2, "reason": IMG}, {"line": 3, "reason": FORMULAS[0]}],
        run_count=0,
    )
    for run in runs.values():
        run.refresh_from_db()
    return {"project": project, "experiment": experiment, "runs": runs}


def assert_escaped(body: str, where: str, content_type: str = "text/html") -> None:
    """No hostile markup is live: HTML escaped, Markdown backslash-escaped, LaTeX
    commands escaped."""
    if content_type.startswith("text/markdown"):
        assert not re.search(r"(?<!\\)<", body), f"{where} has an unescaped '<'"
    elif content_type.startswith("application/x-tex"):
        assert "\\input{" not in body, f"{where} runs a LaTeX command from a name"
    else:
        for live in LIVE:
            assert live not in body, f"{where} shows {live!r} unescaped"


def pages(cast: Cast, h: dict[str, Any]) -> dict[str, str]:
    org = cast.org.uuid
    exp = h["experiment"].uuid
    urls = {
        "overview": f"/o/{org}/",
        "overview-30d": f"/o/{org}/?period=30d",
        "project": f"/o/{org}/projects/{h['project'].uuid}/",
        "public-project": "/p/hostile-public-token/",
        "experiment": f"/o/{org}/experiments/{exp}/",
        "experiment-by-loss": f"/o/{org}/experiments/{exp}/?metric=loss&goal=min",
        "settings": f"/o/{org}/settings/",
        "project-settings": f"/o/{org}/projects/{h['project'].uuid}/settings/",
        "reports": f"/reports/?org={org}",
        "instruments": f"/reports/instruments/?org={org}",
        "imports": "/imports/",
    }
    for key, run in h["runs"].items():
        urls[f"run-{key}"] = f"/o/{org}/runs/{run.uuid}/"
        urls[f"run-{key}-live"] = f"/o/{org}/runs/{run.uuid}/live.json"
        urls[f"run-{key}-redirect"] = f"/runs/{run.uuid}/"
        for ext in ("md", "tex"):
            urls[f"run-{key}-statement-{ext}"] = f"/reports/statement/run/{run.uuid}.{ext}"
    for ext in ("md", "tex"):
        urls[f"experiment-statement-{ext}"] = f"/reports/statement/experiment/{exp}.{ext}"
    return urls


PAGE_NAMES = [
    "overview",
    "overview-30d",
    "project",
    "public-project",
    "experiment",
    "experiment-by-loss",
    "settings",
    "project-settings",
    "reports",
    "instruments",
    "imports",
    "experiment-statement-md",
    "experiment-statement-tex",
] + [
    f"run-{key}{what}"
    for key in ("main", "dates", "zero", "negative", "formula", "future")
    for what in ("", "-live", "-redirect", "-statement-md", "-statement-tex")
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_shows_hostile_values_escaped(
    cast: Cast, hostile: dict[str, Any], name: str
) -> None:
    r = cast.client_for("owner").get(pages(cast, hostile)[name], follow=True)
    assert r.status_code == 200, r.content[:3000]
    body = r.content.decode()
    assert_escaped(body, name, r["Content-Type"])
    if r["Content-Type"].startswith("text/html"):
        # The organisation's name is in every page's header, escaped.
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_run_page_shows_every_hostile_value_readable(
    cast: Cast, hostile: dict[str, Any]
) -> None:
    run = hostile["runs"]["main"]
    body = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/runs/{run.uuid}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "=HYPERLINK(&quot;http://evil.test&quot;,&quot;x&quot;)" in body
    assert UNICODE in body
    assert "1.00e+400" in body and "\N{MINUS SIGN}1.00e+400" in body  # 10**400, -10**400
    # Deep and long values are shown cut, not whole.
    assert "x" * 100_000 not in body and "x" * 299 + "\u2026" in body


def test_the_experiment_page_plots_what_a_float_holds_and_skips_the_rest(
    cast: Cast, hostile: dict[str, Any]
) -> None:
    url = f"/o/{cast.org.uuid}/experiments/{hostile['experiment'].uuid}/"
    body = cast.client_for("viewer").get(url).content.decode()
    # 10**400 is no float: not a plottable metric; the largest float is.
    assert "<option selected>largest</option>" in body or "<option>largest</option>" in body
    assert (
        "<option>accuracy</option>" not in body and "<option selected>accuracy</option>" not in body
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


RUN_PATHS = ["runs/{run}", "runs/{run}/series"]
OTHER_PATHS = [
    "runs",
    "runs?status=finished",
    "projects",
    "projects/{project}",
    "projects/{project}/summary",
    "projects/{project}/series?bucket=day",
    "organisations",
    "organisations/{org}",
    "organisations/{org}/series?bucket=month",
    "experiments",
    "experiments/{experiment}",
]
API_CASES = [(p, "main") for p in OTHER_PATHS] + [
    (p, key)
    for p in RUN_PATHS
    for key in ("main", "dates", "zero", "negative", "formula", "future")
]


@pytest.mark.parametrize(("path", "run_key"), API_CASES)
def test_every_api_answer_carries_hostile_values(
    cast: Cast, hostile: dict[str, Any], path: str, run_key: str
) -> None:
    url = "/api/v1/" + path.format(
        run=hostile["runs"][run_key].uuid,
        project=hostile["project"].uuid,
        org=cast.org.uuid,
        experiment=hostile["experiment"].uuid,
    )
    clients: list[tuple[Client, dict[str, str]]] = [(cast.client_for("viewer"), {})]
    if run_key != "formula":  # the read key sees its own project only
        clients.append((Client(), {"Authorization": f"Bearer {cast.read_key}"}))
    for client, headers in clients:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.content[:3000]
        assert r["Content-Type"].startswith("application/json")
        r.json()  # valid JSON: no NaN or Infinity
    if path == "runs/{run}" and run_key == "main":
        body = r.json()
        assert body["metrics"]["accuracy"] == HUGE and body["metrics"][SCRIPT] == 0.5


def test_every_report_format_is_produced_from_hostile_values(
    cast: Cast, hostile: dict[str, Any]
) -> None:
    now = timezone.now()
    report = Report.objects.create(
        organisation=cast.org,
        title=SCRIPT,
        period_start=now - timedelta(days=7),
        period_end=now + timedelta(minutes=1),
    )
    generate(report)
    files = {f.format: bytes(f.content) for f in ReportFile.objects.filter(report=report)}
    assert sorted(files) == sorted(f.value for f in ReportFormat)
    doc = json.loads(files["json"])
    assert SCRIPT in json.dumps(doc, ensure_ascii=False)
    pdf = "".join(page.extract_text() for page in PdfReader(io.BytesIO(files["pdf"])).pages)
    assert "alert(1)" in pdf  # as text: a PDF does not run it
    book = load_workbook(io.BytesIO(files["xlsx"]))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
    cells = [c for row in csv.reader(io.StringIO(files["csv"].decode("utf-8-sig"))) for c in row]
    assert any(FORMULAS[0] in c for c in cells)  # the project's name is there...
    for cell in cells:  # ... but no cell starts as a formula
        assert not cell.startswith(tuple(FORMULAS)), f"CSV cell {cell!r} is a live formula"
    client = cast.client_for("viewer")
    detail = client.get(f"/reports/{report.uuid}/")
    assert detail.status_code == 200
    assert_escaped(detail.content.decode(), "report page")
    assert client.get(f"/reports/{report.uuid}/status.json").status_code == 200
    for fmt, content in files.items():
        download = client.get(f"/reports/{report.uuid}/download/{fmt}")
        assert download.status_code == 200 and b"".join(download) == content
