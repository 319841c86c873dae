"""Dashboard URLs. Every signed-in page carries the organisation's uuid, so a user of
several organisations can keep one tab open per organisation."""

from __future__ import annotations

import plotly
from django.urls import path

from dashboards import manage, views

app_name = "dash"

org = "o/<str:org_id>/"

urlpatterns = [
    path("", views.home, name="home"),
    path(f"assets/plotly-{plotly.__version__}.min.js", views.plotly_js, name="plotly-js"),
    path("p/<str:token>/", views.public_project, name="public-project"),
    path("runs/<str:run_id>/", views.run_redirect, name="run-redirect"),
    path(org, views.overview, name="overview"),
    path(f"{org}projects/<str:project_id>/", views.project_page, name="project"),
    path(f"{org}experiments/<str:experiment_id>/", views.experiment_page, name="experiment"),
    path(f"{org}runs/<str:run_id>/", views.run_page, name="run"),
    path(f"{org}runs/<str:run_id>/live.json", views.run_live, name="run-live"),
    path(f"{org}settings/", manage.org_settings, name="settings"),
    path(f"{org}projects/new", manage.project_new, name="project-new"),
    path(
        f"{org}projects/<str:project_id>/settings/",
        manage.project_settings,
        name="project-settings",
    ),
    path(f"{org}projects/<str:project_id>/keys/new", manage.key_new, name="key-new"),
    path(f"{org}projects/<str:project_id>/public", manage.public_link, name="public-link"),
    path(f"{org}keys/<str:key_id>/revoke", manage.key_revoke, name="key-revoke"),
    path(f"{org}members/add", manage.member_add, name="member-add"),
    path(f"{org}members/change", manage.member_change, name="member-change"),
    path(f"{org}basis", manage.basis_change, name="basis-change"),
]
