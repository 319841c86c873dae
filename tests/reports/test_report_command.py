from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reports.models import Report
from tests.cast import Cast
from tests.reports.seed_reports import seed


def test_the_command_writes_the_quarters_files(cast: Cast, tmp_path: Path) -> None:
    seed(cast)
    out = StringIO()
    call_command(
        "generate_report",
        org="Acme AI",
        quarter="2026Q3",
        format=["pdf", "json"],
        out=str(tmp_path),
        stdout=out,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "carbon-report-acme-ai-2026q3.json",
        "carbon-report-acme-ai-2026q3.pdf",
    ]
    report = Report.objects.get()
    assert report.status == "done" and report.data_sha256 in out.getvalue()


def test_the_command_refuses_an_unknown_organisation_or_quarter(cast: Cast) -> None:
    with pytest.raises(CommandError, match="No organisation"):
        call_command("generate_report", org="Nobody", quarter="2026Q3")
    with pytest.raises(CommandError, match="not a quarter"):
        call_command("generate_report", org="Acme AI", quarter="2026-09")
