"""What each page shows, computed from data ingested like a client's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.test import Client

import carbon
from api import queries
from api.models import Project, Run
from dashboards import formatting
from tests.cast import Cast
from tests.dashboards.dash_data import Usage, make_run

PERIOD = "?period=30d"


def figure(response: object, name: str) -> dict:
    """The figure a page embedded for plotly.js."""
    html = response.content.decode()  # type: ignore[attr-defined]
    marker = f'<script id="fig-{name}-data" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_home_leads_to_the_first_organisation(cast: Cast) -> None:
    response = cast.client_for("viewer").get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{cast.org.uuid}/"


def test_a_user_without_organisation_is_told_so(cast: Cast) -> None:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("lonely", password="x"))
    assert b"No organisation yet" in client.get("/").content


def test_the_overview_shows_totals_and_changes(cast: Cast, usage: Usage) -> None:
    response = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/{PERIOD}")
    assert response.status_code == 200
    totals = queries.usage_totals(Project.objects.filter(organisation=cast.org))
    html = response.content.decode()
    assert formatting.mass(totals["emissions_kg"]) in html
    assert formatting.energy(totals["energy_kwh"]) in html
    assert "none in the previous period" in html
    # The other organisation's run never counts.
    assert "secret-run" not in html
    assert totals["run_count"] == 4


def test_the_overview_breaks_down_by_project_zone_and_provider(cast: Cast, usage: Usage) -> None:
    response = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/{PERIOD}")
    time = figure(response, "time")
    assert {t["name"] for t in time["data"]} == {"vision", "nowhere"}
    zones = figure(response, "zones")
    assert "France" in zones["data"][0]["text"]
    assert "World average" in " ".join(zones["data"][0]["text"])
    assert figure(response, "methods")["data"][0]["labels"][0].startswith("Measured")


def test_the_overview_calls_out_unknown_locations(cast: Cast, usage: Usage) -> None:
    html = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/{PERIOD}").content.decode()
    assert "Runs with an unknown location" in html
    assert "unknown-where" in html


def test_equivalents_carry_their_source(cast: Cast, usage: Usage) -> None:
    html = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/{PERIOD}").content.decode()
    for constant in carbon.equivalent_constants():
        assert constant.label in html
        assert constant.source.replace("'", "&#x27;") in html


def test_top_runs_are_the_largest_emitters(cast: Cast, usage: Usage) -> None:
    html = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/{PERIOD}").content.decode()
    section = html[html.index("Top runs by emissions") :]
    assert section.index(">big<") < section.index(">failed<") < section.index(">small<")


def test_a_bad_custom_date_is_explained(cast: Cast, usage: Usage) -> None:
    url = f"/o/{cast.org.uuid}/?period=custom&start=2026-02-30&end=2026-03-01"
    response = cast.client_for("viewer").get(url)
    assert response.status_code == 400
    assert b"is not a valid date" in response.content
    assert b"Showing this quarter instead" in response.content


def test_a_period_without_data_says_so(cast: Cast, usage: Usage) -> None:
    url = f"/o/{cast.org.uuid}/?period=custom&start=2020-01-01&end=2020-01-31"
    html = cast.client_for("viewer").get(url).content.decode()
    assert "No emissions in this period." in html
    assert "No runs started in this period." in html


def test_the_project_page_compares_and_offers_alternatives(cast: Cast, usage: Usage) -> None:
    response = cast.client_for("member").get(
        f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/{PERIOD}"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Last run, next to the project total" in html
    assert ">baseline<" in html
    for provider in ("aws", "gcp", "azure"):
        assert f'data-provider="{provider}"' in html
    countries = figure(response, "countries")
    assert "FRA" in countries["data"][0]["x"]
    world = figure(response, "map")
    assert world["data"][0]["type"] == "choropleth"
    assert "FRA" in world["data"][0]["locations"]
    # The map's outlines come from the hub's static files, never from plotly's CDN.
    assert 'data-topojson="/static/dashboards/topojson/"' in html
    assert "Kosovo" in response.context["whatif"]["unmapped"]
    assert "France" not in response.context["whatif"]["unmapped"]
    mix = figure(response, "mix")
    assert mix["data"][0]["y"] == ["France"]


def test_the_what_if_saving_is_against_what_was_emitted(cast: Cast, usage: Usage) -> None:
    response = cast.client_for("member").get(
        f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/{PERIOD}"
    )
    rows = response.context["whatif"]["alternatives"]
    actual = response.context["totals"]["emissions_kg"]
    assert rows[0]["saving_kg"] == actual - rows[0]["alt"].emissions_kg
    assert [r["alt"].emissions_kg for r in rows] == sorted(r["alt"].emissions_kg for r in rows)


def test_the_experiment_page_counts_failed_runs_and_marks_the_frontier(
    cast: Cast, usage: Usage
) -> None:
    exp = usage.runs["big"].experiment
    response = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/experiments/{exp.uuid}/")
    assert response.status_code == 200
    totals = response.context["totals"]
    runs = Run.objects.filter(experiment=exp)
    assert totals["run_count"] == 3
    assert totals["runs_by_status"] == {"finished": 2, "failed": 1}
    assert abs(totals["emissions_kg"] - sum(r.emissions_kg for r in runs)) < 1e-9
    pareto = figure(response, "pareto")
    frontier = next(t for t in pareto["data"] if t["name"] == "Efficient frontier")
    assert len(frontier["x"]) == 2  # small and big; failed is beaten by small
    assert response.context["metric"] == "accuracy"


def test_a_loss_metric_is_minimised(cast: Cast) -> None:
    for i, loss in enumerate([0.5, 0.3]):
        make_run(
            cast.project, f"l{i}", experiment="losses", status="finished", metrics={"loss": loss}
        )
    exp = cast.project.experiments.get(name="losses")
    response = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/experiments/{exp.uuid}/")
    assert response.context["maximise"] is False


def test_the_run_page_shows_series_methods_and_factor(cast: Cast, usage: Usage) -> None:
    run = usage.runs["big"]
    response = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/runs/{run.uuid}/")
    html = response.content.decode()
    assert len(figure(response, "power")["data"]) == 3
    assert len(figure(response, "ranks")["data"]) == 2
    assert "NVML energy counter" in html and "RAPL energy counter" in html
    assert run.factor.source.replace("'", "&#x27;") in html
    assert str(run.factor.year) in html
    assert "A100" in html
    assert 'id="live"' not in html  # finished: no polling


def test_a_running_run_polls_its_live_json(cast: Cast, usage: Usage) -> None:
    run = usage.runs["secret"]
    live = make_run(cast.project, "live", start=datetime.now(UTC) - timedelta(minutes=5))
    client = cast.client_for("viewer")
    html = client.get(f"/o/{cast.org.uuid}/runs/{live.uuid}/").content.decode()
    assert 'id="live"' in html
    data = client.get(f"/o/{cast.org.uuid}/runs/{live.uuid}/live.json").json()
    assert data["running"] is True
    assert data["numbers"]["energy"] == formatting.energy(live.energy_kwh)
    assert data["figures"]["fig-power"]["data"]
    gpu = next(m for m in data["methods"] if m["component"] == "GPU")
    assert gpu["label"] == "NVML energy counter"
    assert gpu["energy"] == formatting.energy(live.gpu_energy_kwh)
    assert gpu["intervals"] == f"{live.measurement_count:,}"
    assert run.project != cast.project


def test_the_run_page_shows_a_prediction(cast: Cast) -> None:

    run = make_run(cast.project, "predicted")
    run.record_prediction(2, 10, 5.0)
    html = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/runs/{run.uuid}/").content.decode()
    assert "after 2 of 10 epochs" in html
    assert formatting.energy(5.0) in html


def test_the_api_run_url_leads_to_the_run_page(cast: Cast, usage: Usage) -> None:
    run = usage.runs["big"]
    response = cast.client_for("viewer").get(f"/runs/{run.uuid}/")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{cast.org.uuid}/runs/{run.uuid}/"


def test_the_switcher_lists_every_organisation_of_the_user(cast: Cast) -> None:
    from api.models import Membership

    Membership.objects.create(user=cast.users["viewer"], organisation=cast.other_org, role="viewer")
    html = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/").content.decode()
    assert f"/o/{cast.other_org.uuid}/" in html
    assert cast.other_org.name in html


def test_the_public_page_needs_no_login_and_shows_no_management(cast: Cast, usage: Usage) -> None:
    cast.project.public_token = "tok-" + "x" * 30
    cast.project.save()
    response = Client().get(f"/p/{cast.project.public_token}/{PERIOD}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Had this been run elsewhere" in html
    assert "/settings/" not in html and "/runs/" not in html and "Sign out" not in html
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_disabled_or_unknown_public_link_is_404(cast: Cast) -> None:
    assert Client().get("/p/nothing-here/").status_code == 404


def test_plotly_is_served_locally(cast: Cast) -> None:
    import plotly

    response = Client().get(f"/assets/plotly-{plotly.__version__}.min.js")
    assert response.status_code == 200
    assert b"plotly.js" in b"".join(response.streaming_content)[:500]  # type: ignore[attr-defined]
    assert "immutable" in response["Cache-Control"]


def test_the_map_outlines_are_served_locally(cast: Cast) -> None:
    response = Client().get("/static/dashboards/topojson/world_110m.json")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    topology = json.loads(body)
    ids = {g.get("id") for g in topology["objects"]["countries"]["geometries"]}
    assert {"FRA", "USA", "CHN", "BRA", "IND"} <= ids


def test_the_pages_never_reference_a_cdn(cast: Cast, usage: Usage) -> None:
    client = cast.client_for("viewer")
    run = usage.runs["big"]
    project = f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/{PERIOD}"
    for url in (f"/o/{cast.org.uuid}/", project, f"/o/{cast.org.uuid}/runs/{run.uuid}/"):
        html = client.get(url).content.decode()
        assert "cdn." not in html and "https://cdn" not in html
