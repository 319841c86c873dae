from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Emissions Hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from api.sums import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="api-sums-sqlite")
