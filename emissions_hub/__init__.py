from __future__ import annotations

from emissions_hub.celery import app as celery_app

__all__ = ["celery_app"]
