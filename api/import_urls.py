"""Upload pages for foreign result files, mounted at ``/imports/``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from api.importers import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.upload, name="imports-upload"),
]
