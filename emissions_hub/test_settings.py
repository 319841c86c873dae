"""Settings for the test suite: real PostgreSQL and Redis, tasks eager unless a test
starts a real worker. Override with DATABASE_URL / CELERY_BROKER_URL."""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/emissions_hub")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from emissions_hub.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# One test database per pytest process, so that concurrent runs (several developers or
# CI steps on one machine) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_emissions_hub_{os.getpid()}"}  # noqa: F405
# The same for the shared Redis cache (API rate limits): each process counts apart.
CACHES["default"]["KEY_PREFIX"] = f"test{os.getpid()}"  # noqa: F405

# No lost-run sweep inside captured requests (query-count tests); tests/api/test_api_lost_sweep.py
# sets its own.
RUN_LOST_SWEEP_S = 0
