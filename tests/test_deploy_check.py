"""The production settings, read from the environment as a deployment sets them: Django's
`check --deploy` finds nothing to warn about, and each variable lands where it should.

Settings are computed once, when the settings module is imported, so each case runs
manage.py in a fresh process with only the environment given here.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    # Never connected to: `check` does not touch the database.
    "DATABASE_URL": "postgres://hub:hub@127.0.0.1:5432/hub",
    "ALLOWED_HOSTS": "hub.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://hub.example.org",
    "HUB_BEHIND_TLS_PROXY": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}
SHOW = (
    "import json; from django.conf import settings as s; print(json.dumps({n: getattr(s, n, None)"
    " for n in ('SECURE_PROXY_SSL_HEADER', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS',"
    " 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'SESSION_COOKIE_SECURE',"
    " 'CSRF_COOKIE_SECURE', 'CSRF_TRUSTED_ORIGINS', 'API_RATE_INGEST', 'API_RATE_READ',"
    " 'AXES_FAILURE_LIMIT', 'HUB_TRUSTED_PROXIES')}, default=str))"
)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "DJANGO_SETTINGS_MODULE": "emissions_hub.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_with(**env: str) -> dict[str, Any]:
    done = manage("shell", "-c", SHOW, **env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_check_deploy_finds_nothing_with_the_documented_production_settings() -> None:
    done = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_warns_when_https_is_not_configured() -> None:
    plain = {k: v for k, v in PRODUCTION.items() if not k.startswith(("HUB_", "SECURE_"))}
    done = manage("check", "--deploy", "--fail-level", "WARNING", **plain)
    assert done.returncode != 0
    assert "security.W004" in done.stderr and "security.W008" in done.stderr


def test_each_variable_lands_in_its_setting() -> None:
    shown = settings_with(**PRODUCTION, API_RATE_INGEST="500/s", HUB_TRUSTED_PROXIES="1")
    assert shown == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_TRUSTED_ORIGINS": ["https://hub.example.org"],
        "API_RATE_INGEST": "500/s",
        "API_RATE_READ": "1200/min",
        "AXES_FAILURE_LIMIT": 10,
        "HUB_TRUSTED_PROXIES": 1,
    }
    # Development: no proxy header trusted, no redirect, plain cookies.
    dev = settings_with(DEBUG="1", API_RATE_READ="off")
    assert dev["SECURE_PROXY_SSL_HEADER"] is None
    assert dev["SECURE_SSL_REDIRECT"] is False
    assert dev["SESSION_COOKIE_SECURE"] is False and dev["CSRF_COOKIE_SECURE"] is False
    assert dev["API_RATE_READ"] is None
    # Behind the TLS proxy, X-Forwarded-For is read from that proxy unless told otherwise;
    # without it, the header is ignored.
    assert settings_with(**PRODUCTION)["HUB_TRUSTED_PROXIES"] == 1
    assert dev["HUB_TRUSTED_PROXIES"] == 0


def test_a_bad_rate_stops_the_start_with_a_clear_message() -> None:
    done = manage("check", DEBUG="1", API_RATE_INGEST="lots")
    assert done.returncode != 0
    assert "API_RATE_INGEST='lots' is not a rate: use requests/period, e.g. 6000/min" in (
        done.stderr
    )


def test_pages_carry_a_content_security_policy_without_inline_scripts(db: Any) -> None:
    answer = Client().get("/login/")
    policy = dict(
        part.strip().split(" ", 1) for part in answer["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["img-src"] == "'self' data:"
    assert b"<script>" not in answer.content
