"""Settings for Emissions Hub, read from the environment.

Development defaults just work (SQLite file, eager Celery). With ``DEBUG=0`` the hub
refuses to start without ``SECRET_KEY`` and ``DATABASE_URL``. Every variable is listed in
README.md and .env.example.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from reports.schedule import BEAT_SCHEDULE as REPORTS_BEAT_SCHEDULE

# Lets model and admin classes be subscripted for type checking (QuerySet["Run"]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """Return an environment variable as a string."""
    return os.environ.get(name, default)


def env_secret(name: str, default: str = "") -> str:
    """Read NAME, or the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean variable; anything but the usual spellings is an error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    """Parse an integer variable, failing loudly on a bad value."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc


def env_list(name: str, default: str = "") -> list[str]:
    """Parse a comma-separated list."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

# Keys are stored as HMAC-SHA256 under this secret; set it to rotate SECRET_KEY safely.
API_KEY_HMAC_SECRET = env_secret("API_KEY_HMAC_SECRET", SECRET_KEY)

DATABASE_URL = env_secret("DATABASE_URL")
if not DATABASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured("DATABASE_URL must be set when DEBUG=0")
    DATABASE_URL = f"sqlite:///{BASE_DIR / 'data' / 'hub.sqlite3'}"

DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(str(DATABASES["default"]["NAME"])).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
else:
    # PostgreSQL's JIT compiles a plan whose estimated cost is high; the ingest statement's
    # per-row hour split is over-estimated, and compiling it costs ~100 ms per post, far
    # more than the statement itself. The hub's queries are short: JIT stays off.
    # The ingest statement is prepared once per connection (api.ingest.store; Django's own
    # queries are bound on the client and never prepared): its generic plan is used from
    # the first execution, which saves its ~3 ms of planning on every post.
    # Django disables prepared statements; a threshold no query reaches turns them back on
    # for the statements that ask (prepare=True) and for nothing else. Behind PgBouncer in
    # transaction mode, that needs PgBouncer 1.21+ with max_prepared_statements set.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        options="-c jit=off -c plan_cache_mode=force_generic_plan",
        prepare_threshold=2**31 - 1,
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# When SITE_URL is set, links the API returns use it (a hub behind a TLS proxy); otherwise
# they use the host of the request.
SITE_URL_FROM_ENV = bool(env_str("SITE_URL"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "api",
    "dashboards",
    "reports",
]

MIDDLEWARE = [
    # First, so that it sees every failure below it: /api/ answers 503 JSON, not 500 HTML,
    # while the database is unreachable.
    "emissions_hub.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.errors.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "emissions_hub.urls"
WSGI_APPLICATION = "emissions_hub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# WhiteNoise warns at every start when the collected-static folder is missing.
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "data" / "media")))
MEDIA_URL = "/media/"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Request bodies above this are answered 413 by the API (a batch of 1,000 measurements
# is about 600 KiB of JSON).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_BYTES", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
API_MAX_BATCH = 1000
# Measurements may not end further than this in the future (client clock skew).
API_MAX_FUTURE_S = env_int("API_MAX_FUTURE_S", 300)
# A running run that has not reported for this long is marked lost.
RUN_LOST_AFTER_S = env_int("RUN_LOST_AFTER_S", 3600)
# Looked-up API keys are trusted this long in each web process (0: every request queries);
# a revoked key is refused by every web process within API_KEY_CACHE_S seconds.
API_KEY_CACHE_S = env_int("API_KEY_CACHE_S", 5)
# Raw measurements on PostgreSQL live in monthly partitions (api.partitions): months made
# ahead of time, and how many whole months before the current one keep their raw rows
# (0: forever). Retention never touches hourly aggregates or run totals.
API_PARTITIONS_AHEAD_MONTHS = env_int("API_PARTITIONS_AHEAD_MONTHS", 3)
MEASUREMENT_RETENTION_MONTHS = env_int("MEASUREMENT_RETENTION_MONTHS", 0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Emissions Hub API",
    "DESCRIPTION": "Energy and carbon emissions of ML computing: ingestion and read API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The measurement body's schema comes from the msgspec Structs that enforce it.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.openapi_hook",
    ],
}

# Celery: a Redis broker when CELERY_BROKER_URL is set, otherwise tasks run eagerly in
# the web process (quick start on SQLite).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "mark-lost-runs": {"task": "api.tasks.mark_lost_runs", "schedule": 300.0},
    # Daily: the coming months' measurement partitions, and raw-data retention.
    "maintain-partitions": {
        "task": "api.tasks.maintain_partitions",
        "schedule": crontab(hour=1, minute=15),
    },
}
# Daily at 02:00 UTC: last closed quarter's report for every organisation (idempotent).
CELERY_BEAT_SCHEDULE.update(REPORTS_BEAT_SCHEDULE)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "data" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "emissions-hub@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
