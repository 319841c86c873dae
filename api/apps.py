from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Emissions Hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        import api.openapi  # noqa: F401  (registers the OpenAPI key schemes)
        from api.sums import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="api-sums-sqlite")

        from django.core.signals import request_started

        from api.lost import sweep_if_due

        # Silent runs are marked lost even without Celery beat (api/lost.py).
        request_started.connect(sweep_if_due, dispatch_uid="api-lost-run-sweep")
