"""Report pages, mounted at /reports/: the URL of each view of ``reports.views``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path

from reports import views

app_name = "reports"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.report_list, name="list"),
    path("instruments/", views.instrument_list, name="instruments"),
    path(
        "instruments/<str:instrument_id>/delete", views.instrument_delete, name="instrument-delete"
    ),
    re_path(
        r"^statement/run/(?P<run_id>[0-9a-fA-F-]{32,36})\.(?P<ext>md|tex)$",
        views.run_statement_file,
        name="run-statement",
    ),
    re_path(
        r"^statement/experiment/(?P<experiment_id>[0-9a-fA-F-]{32,36})\.(?P<ext>md|tex)$",
        views.experiment_statement_file,
        name="experiment-statement",
    ),
    path("<str:report_id>/", views.report_detail, name="detail"),
    path("<str:report_id>/status.json", views.report_status, name="status"),
    path("<str:report_id>/regenerate", views.report_regenerate, name="regenerate"),
    path("<str:report_id>/download/<str:fmt>", views.report_download, name="download"),
]
