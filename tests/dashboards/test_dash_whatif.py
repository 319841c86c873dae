"""The what-if compares like with like: the PUE the project actually ran at."""

from __future__ import annotations

import pytest

from api.models import Project
from api.queries import usage_totals
from dashboards.views import what_if_rows
from tests.cast import Cast
from tests.dashboards.dash_data import make_run


def test_a_cloud_projects_own_country_shows_no_penalty_against_itself(cast: Cast) -> None:
    # Configured PUE 1.5, but runs in GCP europe-west4 use Google's published PUE.
    project = Project.objects.create(
        organisation=cast.org,
        name="cloudy",
        cloud_provider="gcp",
        cloud_region="europe-west4",
        pue=1.5,
    )
    make_run(project, "r1")
    totals = usage_totals(Project.objects.filter(pk=project.pk))
    rows = what_if_rows(totals, project.pue)
    # The region has Google's own published factor, and the what-if uses that same factor.
    itself = next(
        r
        for r in rows["alternatives"]
        if r["alt"].provider == "gcp" and r["alt"].region == "europe-west4"
    )
    assert itself["alt"].zone == "GCP-EUROPE-WEST4"
    assert itself["alt"].emissions_kg == pytest.approx(totals["emissions_kg"])
    assert itself["saving_kg"] == pytest.approx(0.0, abs=1e-12)
