from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from reports.models import HardwareFootprint
from reports.statements import run_sci, tex_escape
from tests.cast import Cast
from tests.reports.seed_reports import add_run


def test_a_run_statement_in_markdown_gives_the_facts_a_paper_needs(cast: Cast) -> None:
    run = add_run(cast.project, "bert_base#1", datetime(2026, 7, 5, tzinfo=UTC), 10)
    md = cast.client_for("viewer").get(f"/reports/statement/run/{run.uuid}.md")
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    for fact in (
        "4 x NVIDIA A100-SXM4-40GB",
        "10.0 h wall-clock",
        "500.000 kWh IT energy",
        "France",
        "40.48 g CO2e/kWh (lifecycle basis",
        "ISO/IEC 21031",
        "not configured",
    ):
        assert fact in text, fact
    assert f"{run.emissions_kg:,.3f} kg CO2e" in text


def test_a_run_statement_in_latex_is_escaped(cast: Cast) -> None:
    run = add_run(cast.project, "bert_base#1", datetime(2026, 7, 5, tzinfo=UTC), 2)
    tex = cast.client_for("member").get(f"/reports/statement/run/{run.uuid}.tex").content.decode()
    assert "\\begin{tabular}" in tex and "bert\\_base\\#1" in tex
    assert "CO\\textsubscript{2}e" in tex
    assert tex_escape("50% & $x_1$") == "50\\% \\& \\$x\\_1\\$"


def test_an_experiment_statement_sums_its_runs(cast: Cast) -> None:
    a = add_run(cast.project, "a", datetime(2026, 7, 5, tzinfo=UTC), 3, experiment="sweep")
    b = add_run(cast.project, "b", datetime(2026, 7, 6, tzinfo=UTC), 5, experiment="sweep")
    text = (
        cast.client_for("member")
        .get(f"/reports/statement/experiment/{a.experiment.uuid}.md")
        .content.decode()
    )
    assert "experiment sweep (2 runs)" in text
    assert f"{a.energy_kwh + b.energy_kwh:,.3f} kWh IT energy" in text
    assert (
        "\\begin{table}"
        in cast.client_for("member")
        .get(f"/reports/statement/experiment/{a.experiment.uuid}.tex")
        .content.decode()
    )


def test_embodied_emissions_count_when_the_gpu_footprint_is_configured(cast: Cast) -> None:
    run = add_run(cast.project, "emb", datetime(2026, 7, 5, tzinfo=UTC), 10)
    plain = run_sci(run)
    assert (
        plain.result.embodied_kg == 0.0
        and plain.embodied_note == "not configured for NVIDIA A100-SXM4-40GB"
    )
    assert plain.result.sci_kg == pytest.approx(run.emissions_kg)
    # A made-up footprint: the test checks the arithmetic, not the figure.
    HardwareFootprint.objects.create(
        model_name="nvidia a100-sxm4-40gb",
        embodied_kg=1000.0,
        lifetime_hours=10_000.0,
        source="test figure",
    )
    sci = run_sci(run)
    assert sci.result.embodied_kg == pytest.approx(4 * 1000.0 * 10 / 10_000.0)
    assert sci.result.sci_kg == pytest.approx(run.emissions_kg + 4.0)
    assert "test figure" in sci.embodied_note


def test_statements_of_another_organisation_are_404(cast: Cast) -> None:
    run = add_run(cast.other_project, "secret", datetime(2026, 7, 5, tzinfo=UTC), 1)
    client = cast.client_for("owner")
    assert client.get(f"/reports/statement/run/{run.uuid}.md").status_code == 404
    assert client.get(f"/reports/statement/experiment/{run.experiment.uuid}.tex").status_code == 404
    outsider = Client()
    outsider.force_login(cast.outsider)
    assert outsider.get(f"/reports/statement/run/{run.uuid}.md").status_code == 200
