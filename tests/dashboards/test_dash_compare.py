"""Like-for-like comparisons on the pages, on a fixed "now" inside a quarter.

"Now" is 16 Nov 2026 09:20 UTC, patched into ``django.utils.timezone.now``: this quarter
has 46 days 9 hours of complete data (1 Oct 00:00 to 16 Nov 09:00), compared with
1 Jul 00:00 to 16 Aug 09:00. Runs sit on both sides of each edge, so the like-for-like
and the naive whole-quarter comparison give different percentages.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from api.models import Run
from dashboards import formatting
from tests.cast import Cast
from tests.dashboards.dash_data import make_run

NOW = datetime(2026, 11, 16, 9, 20, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def placed(cast: Cast) -> dict[str, Run]:
    """Runs of ``cast.project`` (France) placed around the edges of both ranges."""
    spots = {
        "q3-early": (at(2026, 7, 5, 10), 0.010),
        "q3-edge-in": (at(2026, 8, 16, 8, 30), 0.005),  # last hour before 16 Aug 09:00
        "q3-edge-out": (at(2026, 8, 16, 9, 10), 0.020),  # just after: not like for like
        "q3-late": (at(2026, 9, 20, 14), 0.050),
        "q4": (at(2026, 10, 10, 12), 0.030),
        "q4-last-hour": (at(2026, 11, 16, 8, 5), 0.004),  # the last complete hour
        "q4-this-hour": (at(2026, 11, 16, 9, 5), 0.100),  # the hour still running
    }
    return {
        key: make_run(cast.project, key, start=start, gpu_kwh=gpu, status="finished")
        for key, (start, gpu) in spots.items()
    }


def _get(cast: Cast, monkeypatch: pytest.MonkeyPatch, path: str) -> str:
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    response = cast.client_for("viewer").get(path)
    assert response.status_code == 200
    return html_lib.unescape(response.content.decode())


def _period_line(html: str) -> str:
    """The text of the line under the period picker that states the compared ranges."""
    match = re.search(r'<p class="period-desc"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no period line"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def _card(html: str, key: str) -> dict[str, str]:
    start = html.index(f'data-stat="{key}"')
    block = html[start : html.index("</div>\n  </div>", start) + len("</div>")]
    value = re.search(r'class="stat-value">([^<]*)<', block)
    change = re.search(r'class="stat-change[^"]*"[^>]*>([^<]*)<', block)
    assert value and change
    return {"value": value.group(1), "change": change.group(1)}


def _energy(runs: dict[str, Run], *keys: str) -> float:
    return sum(runs[k].energy_kwh for k in keys)


@pytest.mark.parametrize("page", ["overview", "project"])
def test_this_quarter_is_compared_with_the_same_elapsed_hours_of_the_last(
    cast: Cast, placed: dict[str, Run], monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    path = (
        f"/o/{cast.org.uuid}/"
        if page == "overview"
        else f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/"
    )
    html = _get(cast, monkeypatch, path + "?period=this_quarter")
    now_kwh = _energy(placed, "q4", "q4-last-hour")
    before_kwh = _energy(placed, "q3-early", "q3-edge-in")
    like = formatting.change(now_kwh, before_kwh)["text"]
    naive = formatting.change(
        _energy(placed, "q4", "q4-last-hour", "q4-this-hour"),
        _energy(placed, "q3-early", "q3-edge-in", "q3-edge-out", "q3-late"),
    )["text"]
    assert like != naive  # the data tells the two rules apart
    card = _card(html, "energy_kwh")
    assert card == {"value": formatting.energy(now_kwh), "change": like}
    runs = _card(html, "run_count")
    assert runs["value"] == "2" and runs["change"] == "no change"  # 2 runs against 2
    assert _period_line(html) == (
        "This quarter: 1 Oct 2026 00:00 to 16 Nov 2026 09:00 UTC (to date: whole hours up to "
        "the current one; the period runs to 31 Dec 2026) · compared with "
        "1 Jul 2026 00:00 to 16 Aug 2026 09:00 UTC "
        "(the first 46 days 9 hours of the previous quarter)"
    )


def test_last_quarter_is_compared_with_the_whole_quarter_before(
    cast: Cast, placed: dict[str, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    html = _get(cast, monkeypatch, f"/o/{cast.org.uuid}/?period=last_quarter")
    card = _card(html, "energy_kwh")
    assert card["value"] == formatting.energy(
        _energy(placed, "q3-early", "q3-edge-in", "q3-edge-out", "q3-late")
    )
    assert card["change"] == "none in the previous period"  # nothing in Q2
    assert _period_line(html) == (
        "Last quarter: 1 Jul 2026 to 30 Sep 2026 (UTC) · compared with "
        "1 Apr 2026 to 30 Jun 2026 (the previous quarter)"
    )
    assert 'data-to-date="0"' in html


def test_the_time_chart_of_this_quarter_stops_at_the_last_complete_hour(
    cast: Cast, placed: dict[str, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dashboards.test_dash_pages import figure

    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    response = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/?bucket=day")
    fig: dict[str, Any] = figure(response, "time")
    days = {
        x[:10] for trace in fig["data"] for x, y in zip(trace["x"], trace["y"], strict=True) if y
    }
    assert days == {"2026-10-10", "2026-11-16"}
    total_kg = sum(sum(trace["y"]) for trace in fig["data"])
    card = _card(html_lib.unescape(response.content.decode()), "emissions_kg")
    assert card["value"] == formatting.mass(
        placed["q4"].emissions_kg + placed["q4-last-hour"].emissions_kg
    )
    assert total_kg > 0
    assert fig["layout"]["xaxis"]["range"][1].startswith("2026-11-16T09:00")
