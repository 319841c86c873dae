"""Settings for Emissions Hub, read from the environment.

Development defaults just work (SQLite file, eager Celery). With ``DEBUG=0`` the hub
refuses to start without ``SECRET_KEY`` and ``DATABASE_URL``. Every variable is listed in
README.md and .env.example.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
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


RATE_FORM = re.compile(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)")


def env_rate(name: str, default: str) -> str | None:
    """A rate such as ``6000/min`` (DRF's form), or None for ``off``."""
    raw = os.environ.get(name) or default
    value = raw.strip().lower()
    if value == "off":
        return None
    if not RATE_FORM.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a rate: use requests/period, e.g. 6000/min "
            "(period s, min, hour or day), or off"
        )
    return value


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
    "axes",
    "csp",
    "api",
    "dashboards",
    "reports",
]

MIDDLEWARE = [
    # First, so that it sees every failure below it: /api/ answers 503 JSON, not 500 HTML,
    # while the database is unreachable.
    "emissions_hub.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A chunked body is read (gunicorn de-chunks it) or refused 411; before the size limit,
    # which then sees the length read.
    "emissions_hub.middleware.ChunkedBodyMiddleware",
    "api.errors.BodySizeLimitMiddleware",
    # A NUL in the path, the query string or a form: 400 before any view or query.
    "emissions_hub.middleware.NulCharacterMiddleware",
    # An API key in a query string is refused before anything reads it.
    "api.auth.KeyInUrlMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out sign-in into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
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

# Sign-in lockout (django-axes), for /login/ and the admin's sign-in alike: after
# AXES_FAILURE_LIMIT wrong passwords for one username from one address, that username is
# refused from that address, right password included, for AXES_COOLOFF_MINUTES after the
# last attempt (0: until an administrator runs `manage.py axes_reset_username USER`).
# By username and address together, so that nobody can lock a person out from elsewhere
# (docs/security.md weighs this). A successful sign-in clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT must be 1 or more")
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES) if AXES_COOLOFF_MINUTES > 0 else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # no banner at every start; lockouts are still logged
# The address as api.throttling.client_ip sees it: X-Forwarded-For only from the
# HUB_TRUSTED_PROXIES proxies in front of the hub (0: the header is ignored). Behind the TLS
# proxy (HUB_BEHIND_TLS_PROXY) it defaults to that one proxy: otherwise every client would
# have the proxy's address, and the lockout by username and address would let anyone lock
# any user out.
HUB_TRUSTED_PROXIES = env_int(
    "HUB_TRUSTED_PROXIES", 1 if env_bool("HUB_BEHIND_TLS_PROXY", False) else 0
)
AXES_CLIENT_IP_CALLABLE = "api.throttling.client_ip"

# Request bodies above this are answered 413 by the API (a batch of 1,000 measurements
# is about 600 KiB of JSON).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_BYTES", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
API_MAX_BATCH = 1000
# Measurements may not end further than this in the future (client clock skew).
API_MAX_FUTURE_S = env_int("API_MAX_FUTURE_S", 300)
# A running run that has not reported for this long is marked lost.
RUN_LOST_AFTER_S = env_int("RUN_LOST_AFTER_S", 3600)
# Requests run that sweep too (no Celery beat needed): at most once per RUN_LOST_SWEEP_S
# seconds between the processes sharing the cache; 0 leaves it to beat. A silent run is
# lost within RUN_LOST_AFTER_S + RUN_LOST_SWEEP_S + 1 s (api/lost.py).
RUN_LOST_SWEEP_S = env_int("RUN_LOST_SWEEP_S", 60)
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
    # Per key (or user) and scope, API_RATE_INGEST / API_RATE_READ below.
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiRateThrottle"],
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
    # 3.1: its schemas are JSON Schema 2020-12, as msgspec writes them (``type: "null"``).
    "OAS_VERSION": "3.1.0",
    # The measurement body's schema comes from the msgspec Structs that enforce it; the
    # error answers every operation can give (and the CodeCarbon bodies) are added by
    # api.openapi.shared_parts.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.openapi_hook",
        "api.openapi.shared_parts",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "api.models.RunStatus",
        "RunSourceEnum": "api.models.RunSource",
        "BasisEnum": "api.models.FactorBasis",
        "HostingEnum": "api.models.Hosting",
    },
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

# The cache every web process shares: API rate limits count there (api/throttling.py).
# Redis at CACHE_URL, else at a redis:// Celery broker; else this process's memory (the
# quick start, one process). Short timeouts: an unreachable Redis lets requests through
# unthrottled rather than holding them.
CACHE_URL = env_secret("CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "hub",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Requests per key (or signed-in user) and period: writes, reads. One ingest key usually
# serves a whole project's fleet, each rank posting one batch every 10 s (the client's
# default batch wait): 10,000 ranks are 60,000 posts a minute, so the ingestion default
# stays above that, and above what one hub serves (about 700 posts/s on 2 cores, README).
# "off" removes a limit. docs/security.md.
API_RATE_INGEST = env_rate("API_RATE_INGEST", "100000/min")
API_RATE_READ = env_rate("API_RATE_READ", "1200/min")

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

# --- HTTPS and browser protections (docs/security.md) -------------------------------------
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own):
# requests it marks https are secure, and plain http is redirected to https.
HUB_BEHIND_TLS_PROXY = env_bool("HUB_BEHIND_TLS_PROXY", False)
if HUB_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HUB_BEHIND_TLS_PROXY and not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", env_bool("SECURE_COOKIES", not DEBUG))
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", env_bool("SECURE_COOKIES", not DEBUG))

# Content-Security-Policy (django-csp): scripts only from the hub (plotly.js and hub.js are
# served by it; no inline script). Styles also allow 'unsafe-inline' because plotly.js
# needs it: it adds <style> elements and style attributes as it draws. Under style-src
# 'self' Chromium refuses both and the charts lose their toolbar's place, their titles and
# their colour bars' (measured with plotly.js 4.1.1; its opt-out covers only its global
# stylesheet, which it no longer ships: plotly.js issue #7543).
# Not on /api/: its answers are JSON (with X-Content-Type-Options: nosniff), never pages,
# and building the header costs about 85 us per answer, 3 % of an ingestion post. That
# exempts the Swagger UI page too, which needs it while it loads from a CDN with an inline
# script (issue 13 serves it locally; then give it the policy).
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
