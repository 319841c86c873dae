"""The dashboards in a real browser: Debian's Chromium driven by Playwright against
pytest-django's live server. Screenshots land in test-output/screenshots/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User

from api import ingest, schema
from api.models import ApiKey, Run
from reports.models import Report, ReportStatus
from tests.cast import Cast, make_cast, measurement
from tests.dashboards.dash_data import make_run

# Playwright's sync API keeps an event loop running in this thread; the ORM calls the
# tests make between page actions are plain synchronous calls, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Tab:
    """A page that records console errors and failed requests, and takes screenshots."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = LAPTOP) -> None:
        self.base = base
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(m.text)
                if m.type == "error" or "Content Security Policy" in m.text
                else None
            ),
        )
        # Every refusal by the page's Content-Security-Policy, whatever the console shows.
        self.page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        # Every page of the hub carries the policy.
        self.page.on(
            "response",
            lambda r: (
                self.errors.append(f"no Content-Security-Policy header on {r.url}")
                if r.request.resource_type == "document"
                and r.url.startswith(base + "/")
                and "content-security-policy" not in r.headers
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url}"))
        # Nothing may leave the hub, even where the network would answer (a CDN).
        self.page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((base + "/", "data:", "blob:"))
                else self.errors.append(f"off the hub {r.url}")
            ),
        )
        self.fetched: list[str] = []
        self.page.on("requestfinished", lambda r: self.fetched.append(r.url))

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def sign_in(self, username: str) -> None:
        self.open("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", "pw-12345678")
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def charts(self) -> dict[str, int]:
        """Number of traces plotly.js drew in each chart element of the page."""
        result: dict[str, int] = self.page.evaluate(
            "() => Object.fromEntries(Array.from(document.querySelectorAll('.chart'))"
            ".map(el => [el.id, el.data ? el.data.length : 0]))"
        )
        return result

    def assert_map_drawn(self, chart: str = "fig-map") -> None:
        """The choropleth drew its countries, coloured, with a colour bar, from outlines
        served by the hub itself."""
        self.page.wait_for_selector(f"#{chart} path.choroplethlocation", timeout=15_000)
        drawn = self.page.evaluate(
            "id => { const ps = Array.from(document.querySelectorAll("
            "'#' + id + ' path.choroplethlocation'));"
            " return {count: ps.filter(p => (p.getAttribute('d') || '').length > 10).length,"
            " fills: new Set(ps.map(p => p.style.fill || p.getAttribute('fill'))).size,"
            " bar: document.querySelector('#' + id + ' .colorbar .cbtitle')?.textContent || ''}; }",
            chart,
        )
        assert drawn["count"] > 100, drawn  # about 170 of the dataset's countries
        assert drawn["fills"] > 5, drawn
        assert drawn["bar"].startswith("Emissions ("), drawn
        assert any(
            u == self.base + "/static/dashboards/topojson/world_110m.json" for u in self.fetched
        ), self.fetched

    def assert_fits(self) -> None:
        """Nothing makes the page scroll sideways; name the culprits when something does."""
        width = self.page.viewport_size["width"]
        wide = self.page.evaluate(
            "w => Array.from(document.querySelectorAll('body *'))"
            ".filter(el => el.getBoundingClientRect().right > w + 1 && !el.closest('.table-wrap'))"
            ".slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + el.textContent.slice(0, 40))",
            width,
        )
        assert self.page.evaluate("() => document.documentElement.scrollWidth") <= width, wide

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == []

    def assert_policy_kept(self) -> None:
        """No refusal by the Content-Security-Policy, and the header on every page."""
        assert [e for e in self.errors if "Content Security Policy" in e or "header" in e] == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def data(transactional_db: Any) -> dict[str, Any]:
    cast = make_cast()
    nowhere = cast.org.projects.create(name="nowhere")
    start = datetime.now(UTC) - timedelta(hours=3)
    runs = {
        name: make_run(
            cast.project,
            name,
            start=start + timedelta(minutes=i),
            intervals=30,
            gpu_kwh=gpu,
            status=status,
            metrics={"accuracy": acc},
            hardware={"gpu_model": "NVIDIA A100", "gpu_count": 1},
            ranks=2,
        )
        for i, (name, gpu, acc, status) in enumerate(
            [
                ("resnet-lr-0.1", 0.004, 0.91, "finished"),
                ("resnet-lr-0.01", 0.002, 0.88, "finished"),
                ("resnet-wide", 0.008, 0.93, "finished"),
                ("resnet-diverged", 0.003, 0.2, "failed"),
            ]
        )
    }
    runs["cloud"] = make_run(
        cast.project,
        "gcp-finetune",
        experiment="finetune",
        start=start,
        intervals=20,
        cloud_provider="gcp",
        cloud_region="us-central1",
        status="finished",
        metrics={"accuracy": 0.9},
    )
    runs["unknown"] = make_run(nowhere, "laptop-run", experiment="probe", status="finished")
    return {"cast": cast, "runs": runs}


def test_a_manager_signs_in_and_reads_every_page(
    browser: Any, live_server: Any, data: dict[str, Any]
) -> None:
    cast: Cast = data["cast"]
    runs: dict[str, Run] = data["runs"]
    org = cast.org.uuid
    tab = Tab(browser, live_server.url)
    tab.sign_in("owner@acme.test")
    assert tab.page.url.endswith(f"/o/{org}/")
    tab.page.wait_for_selector("#fig-time .main-svg")
    assert tab.charts()["fig-time"] >= 1
    assert tab.charts()["fig-zones"] == 1
    assert "Runs with an unknown location" in tab.page.content()
    tab.shot("overview")

    # Switch period: last 30 days from the select, then a custom range.
    tab.page.select_option("select[name=period]", "30d")
    tab.page.click("form.period button[type=submit]")
    tab.page.wait_for_load_state("networkidle")
    assert "period=30d" in tab.page.url
    assert "Last 30 days" in tab.page.inner_text(".period-desc")
    tab.page.select_option("select[name=period]", "custom")
    assert tab.page.is_visible("input[name=start]")
    today = datetime.now(UTC).date()
    tab.page.fill("input[name=start]", (today - timedelta(days=7)).isoformat())
    tab.page.fill("input[name=end]", today.isoformat())
    tab.page.click("form.period button[type=submit]")
    tab.page.wait_for_load_state("networkidle")
    assert "period=custom" in tab.page.url
    assert tab.charts()["fig-time"] >= 1
    tab.shot("overview-custom-period")

    tab.open(f"/o/{org}/projects/{cast.project.uuid}/?period=30d")
    charts = tab.charts()
    for name in ("fig-time", "fig-where", "fig-map", "fig-countries", "fig-mix", "fig-methods"):
        assert charts[name] >= 1, name
    tab.assert_map_drawn()
    assert "Kosovo" in (tab.page.text_content("#unmapped") or "")
    tab.shot("project")

    exp = runs["resnet-wide"].experiment
    tab.open(f"/o/{org}/experiments/{exp.uuid}/")
    assert tab.charts()["fig-pareto"] == 2
    first = tab.page.inner_text("#runs-table tbody tr:first-child td:first-child")
    tab.page.click("#runs-table th:has-text('Emissions')")
    tab.page.click("#runs-table th:has-text('Emissions')")  # descending
    assert tab.page.inner_text("#runs-table tbody tr:first-child td:first-child").startswith(
        "resnet-wide"
    )
    assert first  # the table had rows before sorting
    tab.shot("experiment")

    tab.open(f"/o/{org}/runs/{runs['resnet-wide'].uuid}/")
    charts = tab.charts()
    assert charts["fig-power"] >= 2  # GPU and CPU (and RAM)
    assert charts["fig-ranks"] == 2
    assert charts["fig-cumulative"] == 2
    assert "A100" in tab.page.content()
    tab.shot("run")

    tab.open(f"/o/{org}/settings/")
    tab.shot("settings")
    tab.assert_clean()
    tab.close()

    phone = Tab(browser, live_server.url, PHONE)
    phone.sign_in("viewer@acme.test")
    phone.page.wait_for_selector("#fig-time .main-svg")
    phone.assert_fits()
    phone.shot("overview-phone")
    phone.open(f"/o/{org}/projects/{cast.project.uuid}/?period=30d")
    phone.assert_map_drawn()
    phone.assert_fits()
    phone.shot("project-phone")
    phone.open(f"/o/{org}/runs/{runs['resnet-wide'].uuid}/")
    phone.assert_fits()
    phone.shot("run-phone")
    phone.assert_clean()
    phone.close()


def test_an_admin_creates_a_key_uses_it_and_revokes_it(
    browser: Any, live_server: Any, data: dict[str, Any]
) -> None:
    cast: Cast = data["cast"]
    tab = Tab(browser, live_server.url)
    tab.sign_in("admin@acme.test")
    tab.open(f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/settings/")
    tab.page.fill("#key-form input[name=name]", "browser test")
    tab.page.select_option("#key-form select[name=scope]", "read")
    tab.page.click("#key-form button[type=submit]")
    tab.page.wait_for_selector("#new-key-value")
    plain = tab.page.inner_text("#new-key-value").strip()
    assert plain.startswith("ehr_")
    tab.shot("key-created")
    api = f"{live_server.url}/api/v1/projects"
    assert requests.get(api, headers={"Authorization": f"Bearer {plain}"}, timeout=10).ok

    # Shown once: reloading the settings page does not show it again.
    tab.open(f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/settings/")
    assert plain not in tab.page.content()
    key = ApiKey.objects.get(name="browser test")
    tab.page.once("dialog", lambda d: d.accept())
    tab.page.click(f"tr[data-key='{key.prefix}'] button:has-text('Revoke')")
    tab.page.wait_for_load_state("networkidle")
    assert "revoked" in tab.page.inner_text(f"tr[data-key='{key.prefix}']")
    tab.shot("key-revoked")
    denied = requests.get(api, headers={"Authorization": f"Bearer {plain}"}, timeout=10)
    assert denied.status_code == 401
    tab.assert_clean()
    tab.close()


def test_a_running_run_updates_while_its_page_is_open(
    browser: Any, live_server: Any, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live server runs in this process: poll every second instead of five.
    monkeypatch.setattr("dashboards.views.LIVE_POLL_S", 1)
    cast: Cast = data["cast"]
    start = datetime.now(UTC) - timedelta(minutes=30)
    run = make_run(cast.project, "live-run", experiment="live", start=start, intervals=5)
    tab = Tab(browser, live_server.url)
    tab.sign_in("member@acme.test")
    tab.open(f"/o/{cast.org.uuid}/runs/{run.uuid}/")
    before = tab.page.inner_text("[data-number=energy]")
    points = "() => document.getElementById('fig-cumulative').data[0].x.length"
    first_points = tab.page.evaluate(points)
    methods = (
        "() => Array.from(document.querySelectorAll('#methods tbody tr')).map(r => r.innerText)"
    )
    first_methods = tab.page.evaluate(methods)
    assert not tab.page.is_visible("#methods tr[data-method=CPU-tdp_model]")

    # New intervals: more GPU energy, and a CPU method the run had not used yet.
    items = [
        measurement(
            start + timedelta(seconds=60 + 10 * i),
            gpu_kwh=0.05,
            seq=100 + i,
            cpu_method="tdp_model" if i % 2 else "rapl",
        )
        for i in range(20)
    ]
    posted = requests.post(
        f"{live_server.url}/api/v1/runs/{run.uuid}/measurements",
        json={"measurements": items},
        headers={"Authorization": f"Bearer {cast.ingest_key}"},
        timeout=10,
    )
    assert posted.ok, posted.text
    tab.page.wait_for_function(
        "before => document.querySelector('[data-number=energy]').textContent !== before",
        arg=before,
        timeout=15_000,
    )
    assert tab.page.evaluate(points) > first_points
    tab.page.wait_for_selector("#methods tr[data-method=CPU-tdp_model]", timeout=15_000)
    tdp = "#methods tr[data-method=CPU-tdp_model]"
    assert tab.page.inner_text(f"{tdp} td:nth-child(2)") == "TDP x utilisation model"
    assert tab.page.inner_text(f"{tdp} td:nth-child(4)") == "10"  # of the 20 new intervals
    gpu_row = "#methods tr[data-method=GPU-nvml_energy] td:nth-child(4)"
    assert tab.page.inner_text(gpu_row) == f"{Run.objects.get(pk=run.pk).measurement_count:,}"
    assert tab.page.evaluate(methods) != first_methods
    tab.shot("run-live")

    finished = requests.post(
        f"{live_server.url}/api/v1/runs/{run.uuid}/finish",
        json={"status": "finished"},
        headers={"Authorization": f"Bearer {cast.ingest_key}"},
        timeout=10,
    )
    assert finished.ok, finished.text
    tab.page.wait_for_selector("#live.stopped", timeout=15_000)
    assert "finished" in tab.page.inner_text("#live")
    tab.assert_clean()
    tab.close()


def test_the_public_link_shows_the_project_without_signing_in(
    browser: Any, live_server: Any, data: dict[str, Any]
) -> None:
    cast: Cast = data["cast"]
    cast.project.public_token = "public-token-for-the-browser-test"
    cast.project.save()
    tab = Tab(browser, live_server.url, PHONE)
    response = tab.open(f"/p/{cast.project.public_token}/?period=30d")
    assert response.status == 200
    assert tab.charts()["fig-time"] >= 1
    tab.assert_map_drawn()
    assert "Settings" not in tab.page.inner_text("header")
    assert "/runs/" not in tab.page.content()
    tab.shot("public-project-phone")
    tab.assert_clean()
    tab.close()


# The area under every trace of a stepped figure as plotly.js holds it in the page (x are
# ISO dates, each y holds until the next x), in kWh; the highest stacked total and the
# highest single trace.
DRAWN = """id => {
  const traces = document.getElementById(id).data;
  let joules = 0, peak = 0, highest = 0;
  const stacked = new Map();
  for (const tr of traces) {
    const xs = tr.x.map(x => Date.parse(x) / 1000);
    for (let i = 0; i + 1 < xs.length; i++) {
      joules += tr.y[i] * (xs[i + 1] - xs[i]);
      stacked.set(i, (stacked.get(i) || 0) + tr.y[i]);
      highest = Math.max(highest, tr.y[i]);
    }
  }
  for (const w of stacked.values()) peak = Math.max(peak, w);
  return {kwh: joules / 3.6e6, peak: peak, highest: highest, shapes: traces.map(t => t.line.shape),
          points: traces[0].x.length};
}"""


def test_the_power_drawn_on_a_run_page_adds_up_to_the_energy_it_shows(
    browser: Any, live_server: Any, data: dict[str, Any]
) -> None:
    cast: Cast = data["cast"]
    # 24 quarter-hours, alternating 800 and 1,200 W of GPU with 100 W of CPU, on two
    # ranks: 6 h, so the page's 600 buckets are 36 s and each interval covers 25 of them.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=8)
    run, _ = ingest.get_or_create_run(
        cast.project, {"run_key": "long-intervals", "experiment": "long", "rank_count": 2}
    )
    items = [
        measurement(
            start + timedelta(minutes=15 * i),
            duration_s=900,
            cpu_kwh=100 * 900 / 3.6e6,
            gpu_kwh=(800 if i % 2 else 1200) * 900 / 3.6e6,
            ram_kwh=0.0,
            rank=rank,
            seq=i,
        )
        for rank in range(2)
        for i in range(24)
    ]
    ingest.ingest_measurements(run, schema.measurements(items))
    run.finish("finished", None, None)
    run.refresh_from_db()
    assert run.energy_kwh == pytest.approx(13.2)  # 2 x (6 kWh GPU + 0.6 kWh CPU)
    tab = Tab(browser, live_server.url)
    tab.sign_in("viewer@acme.test")
    tab.open(f"/o/{cast.org.uuid}/runs/{run.uuid}/")
    tab.page.wait_for_selector("#fig-power .main-svg")
    shown = tab.page.inner_text("[data-number=energy]")
    value, unit = shown.split()
    shown_kwh = float(value.replace(",", "")) * (1000 if unit == "MWh" else 1)
    assert unit in ("kWh", "MWh") and shown_kwh == pytest.approx(13.2, rel=0.005)
    power = tab.page.evaluate(DRAWN, "fig-power")
    assert set(power["shapes"]) == {"hv"}
    assert power["points"] == 601
    assert power["kwh"] == pytest.approx(shown_kwh, rel=0.01)
    # Never above the 2 x 1,300 W the ranks drew at most (joined peaks were 25 times that).
    assert power["peak"] <= 2600 * 1.001
    ranks = tab.page.evaluate(DRAWN, "fig-ranks")
    assert ranks["kwh"] == pytest.approx(shown_kwh, rel=0.01)
    assert ranks["highest"] <= 1300 * 1.001
    cumulative = tab.page.evaluate(
        "() => { const tr = document.getElementById('fig-cumulative').data[0];"
        " return [tr.y[0], tr.y[tr.y.length - 1], tr.x[tr.x.length - 1]]; }"
    )
    assert cumulative[0] == 0 and cumulative[1] == pytest.approx(shown_kwh, rel=0.01)
    assert datetime.fromisoformat(cumulative[2]) == run.last_end
    header = tab.page.inner_text(".page-head")
    assert f"started {run.first_start:%Y-%m-%d %H:%M:%S} UTC" in header
    assert f"ended {run.last_end:%Y-%m-%d %H:%M:%S} UTC" in header
    tab.shot("run-long-intervals")
    tab.assert_clean()
    tab.close()


def test_a_reports_progress_and_the_admin_work_under_the_policy(
    browser: Any, live_server: Any, data: dict[str, Any]
) -> None:
    cast: Cast = data["cast"]
    report = Report.objects.create(
        organisation=cast.org,
        title="2026Q3",
        period_start=datetime(2026, 7, 1, tzinfo=UTC),
        period_end=datetime(2026, 10, 1, tzinfo=UTC),
        status=ReportStatus.RUNNING,
        progress_pct=10,
        progress_message="Reading the quarter",
    )
    tab = Tab(browser, live_server.url)
    tab.sign_in("owner@acme.test")
    tab.open(f"/reports/{report.uuid}/")
    # The page's script (a file of the hub, not inline) polls the status and shows it.
    Report.objects.filter(pk=report.pk).update(progress_pct=60, progress_message="Rendering PDF")
    tab.page.wait_for_function(
        "() => document.getElementById('message').textContent === 'Rendering PDF'",
        timeout=15_000,
    )
    assert tab.page.evaluate("() => document.getElementById('bar').value") == 60
    tab.assert_clean()
    tab.close()

    admin = Tab(browser, live_server.url)
    User.objects.create_superuser("root", "root@acme.test", "pw-12345678")
    admin.open("/admin/login/")
    admin.page.fill("#id_username", "root")
    admin.page.fill("#id_password", "pw-12345678")
    admin.page.click("input[type=submit]")
    admin.page.wait_for_load_state("networkidle")
    assert admin.page.url.endswith("/admin/")
    admin.open("/admin/auth/user/")
    admin.shot("admin-users")
    # Django's admin asks for /favicon.ico, a 404 the hub's pages avoid; nothing else.
    admin.assert_policy_kept()
    admin.close()
