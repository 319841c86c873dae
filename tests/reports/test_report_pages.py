from __future__ import annotations

from typing import Any

from django.test import Client

from reports.models import ContractualInstrument, Report
from tests.cast import Cast


def _post_new(client: Client, cast: Cast, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(
            f"/reports/?org={cast.org.uuid}",
            {
                "org": str(cast.org.uuid),
                "period_kind": "quarter",
                "quarter": "2026Q3",
                "scope": "all",
            },
        )


def test_the_list_page_shows_the_form_to_members(cast: Cast) -> None:
    page = cast.client_for("member").get("/reports/")
    assert page.status_code == 200
    assert b"Generate report" in page.content
    assert b"Contractual instruments" not in page.content  # members do not manage them


def test_viewers_see_reports_but_may_not_generate(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    viewer = cast.client_for("viewer")
    page = viewer.get("/reports/")
    assert page.status_code == 200 and b"Generate report" not in page.content
    assert _post_new(viewer, cast, django_capture_on_commit_callbacks).status_code == 403
    assert not Report.objects.exists()


def test_viewers_may_download_and_outsiders_get_404(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    assert (
        _post_new(cast.client_for("member"), cast, django_capture_on_commit_callbacks).status_code
        == 302
    )
    report = Report.objects.get()
    viewer = cast.client_for("viewer")
    pdf = viewer.get(f"/reports/{report.uuid}/download/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    detail = viewer.get(f"/reports/{report.uuid}/")
    assert detail.status_code == 200 and b"download/xlsx" in detail.content
    assert b"Regenerate" not in detail.content
    outsider = Client()
    outsider.force_login(cast.outsider)
    for url in (
        f"/reports/{report.uuid}/",
        f"/reports/{report.uuid}/download/pdf",
        f"/reports/{report.uuid}/status.json",
    ):
        assert outsider.get(url).status_code == 404
    assert Client().get(f"/reports/{report.uuid}/download/pdf").status_code == 302  # to sign-in
    assert viewer.get(f"/reports/{report.uuid}/download/docx").status_code == 404


def test_an_empty_quarter_still_gives_a_complete_report(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    _post_new(cast.client_for("owner"), cast, django_capture_on_commit_callbacks)
    report = Report.objects.get()
    assert report.status == "done", report.error
    assert report.files.count() == 4


def test_a_custom_period_must_be_in_order_and_chosen_projects_must_be_given(cast: Cast) -> None:
    client = cast.client_for("member")
    bad = client.post(
        "/reports/",
        {"period_kind": "custom", "start": "2026-03-01", "end": "2026-02-01", "scope": "all"},
    )
    assert bad.status_code == 200 and b"before the first day" in bad.content
    none = client.post(
        "/reports/", {"period_kind": "quarter", "quarter": "2026Q3", "scope": "projects"}
    )
    assert none.status_code == 200 and b"at least one project" in none.content
    other = client.post(
        "/reports/",
        {
            "period_kind": "quarter",
            "quarter": "2026Q3",
            "scope": "projects",
            "projects": [cast.other_project.pk],
        },
    )
    assert other.status_code == 200 and not Report.objects.exists()


def test_a_custom_period_covers_whole_days(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    client = cast.client_for("member")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/reports/",
            {"period_kind": "custom", "start": "2026-02-01", "end": "2026-02-28", "scope": "all"},
        )
    report = Report.objects.get()
    assert report.period_start.isoformat() == "2026-02-01T00:00:00+00:00"
    assert report.period_end.isoformat() == "2026-03-01T00:00:00+00:00"


def test_only_owners_and_admins_manage_instruments(cast: Cast) -> None:
    assert cast.client_for("member").get("/reports/instruments/").status_code == 403
    assert cast.client_for("viewer").get("/reports/instruments/").status_code == 403
    admin = cast.client_for("admin")
    assert admin.get("/reports/instruments/").status_code == 200
    created = admin.post(
        "/reports/instruments/",
        {
            "kind": "rec",
            "zone": "usa-camx",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "mwh": "120",
            "g_per_kwh": "0",
        },
    )
    assert created.status_code == 302
    inst = ContractualInstrument.objects.get()
    assert (inst.organisation, inst.zone, inst.mwh) == (cast.org, "USA-CAMX", 120.0)
    assert (
        cast.client_for("member").post(f"/reports/instruments/{inst.uuid}/delete").status_code
        == 403
    )
    assert (
        cast.client_for("owner").post(f"/reports/instruments/{inst.uuid}/delete").status_code == 302
    )
    assert not ContractualInstrument.objects.exists()


def test_an_instrument_needs_a_known_zone_and_exactly_one_amount(cast: Cast) -> None:
    admin = cast.client_for("admin")
    both = admin.post(
        "/reports/instruments/",
        {
            "kind": "go",
            "zone": "FRA",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "mwh": "1",
            "share_pct": "50",
            "g_per_kwh": "0",
        },
    )
    assert b"not both" in both.content
    nowhere = admin.post(
        "/reports/instruments/",
        {
            "kind": "go",
            "zone": "ATLANTIS",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "mwh": "1",
            "g_per_kwh": "0",
        },
    )
    assert b"not a zone" in nowhere.content
    assert not ContractualInstrument.objects.exists()
