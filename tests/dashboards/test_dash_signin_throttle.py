"""Sign-in lockout (django-axes): wrong passwords lock a username from an address, on the
sign-in page and the admin's alike; the documented command lifts it; X-Forwarded-For
counts only from a trusted proxy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from tests.cast import Cast

USER = "owner@acme.test"
RIGHT = "pw-12345678"


def sign_in(client: Client, password: str, path: str = "/login/", **meta: Any) -> Any:
    return client.post(path, {"username": USER, "password": password}, **meta)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def lock(client: Client, path: str = "/login/", **meta: Any) -> Any:
    """Send wrong passwords up to the limit; return the answer to the last."""
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        answer = sign_in(client, "wrong-password", path, **meta)
        assert answer.status_code == 200  # the form again, with its error
        assert 'name="password"' in answer.content.decode()
    return sign_in(client, "wrong-password", path, **meta)


def assert_locked(answer: Any) -> None:
    assert answer.status_code == 429
    text = answer.content.decode()
    assert "Too many failed sign-ins" in text
    assert f"try again in {settings.AXES_COOLOFF_MINUTES} minutes" in text
    assert f"python manage.py axes_reset_username {USER}" in text


def test_wrong_passwords_lock_the_sign_in_until_the_command_lifts_it(cast: Cast) -> None:
    assert settings.AXES_FAILURE_LIMIT == 10 and settings.AXES_COOLOFF_MINUTES == 15
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert_locked(lock(client))
    # The right password no longer signs in, from that address.
    assert_locked(sign_in(client, RIGHT))
    assert not signed_in(client)

    # By username and address together: the person signs in from elsewhere.
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(elsewhere, RIGHT).status_code == 302
    assert signed_in(elsewhere)

    call_command("axes_reset_username", USER)
    answer = sign_in(client, RIGHT)
    assert answer.status_code == 302 and answer.url == settings.LOGIN_REDIRECT_URL
    assert signed_in(client)


def test_the_lock_ends_after_the_cool_off(cast: Cast) -> None:
    client = Client(REMOTE_ADDR="203.0.113.8")
    assert_locked(lock(client))
    assert_locked(sign_in(client, RIGHT))
    cool_off = timedelta(minutes=settings.AXES_COOLOFF_MINUTES)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - cool_off)
    assert sign_in(client, RIGHT).status_code == 302
    assert signed_in(client)


def test_a_success_clears_the_count(cast: Cast) -> None:
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "wrong-password")
    assert sign_in(client, RIGHT).status_code == 302
    client.post("/logout/")
    assert sign_in(client, "wrong-password").status_code == 200  # not locked: counted anew


def test_the_admin_sign_in_is_locked_too(db: Any) -> None:
    User.objects.create_superuser(USER, "root@acme.test", RIGHT)
    client = Client(REMOTE_ADDR="203.0.113.10")
    assert_locked(lock(client, "/admin/login/"))
    assert_locked(sign_in(client, RIGHT, "/admin/login/"))
    assert not signed_in(client)
    # One lock for both doors.
    assert_locked(sign_in(client, RIGHT))
    call_command("axes_reset_username", USER)
    assert sign_in(client, RIGHT, "/admin/login/").status_code == 302
    assert signed_in(client)


def test_a_forwarded_for_header_is_ignored_without_a_trusted_proxy(cast: Cast) -> None:
    client = Client(REMOTE_ADDR="203.0.113.11")
    assert_locked(lock(client, HTTP_X_FORWARDED_FOR="192.0.2.1"))
    # A client cannot step round the lock by writing its own header.
    assert_locked(sign_in(client, RIGHT, HTTP_X_FORWARDED_FOR="192.0.2.2"))


@override_settings(HUB_TRUSTED_PROXIES=1)
def test_behind_a_trusted_proxy_the_address_it_saw_counts(cast: Cast) -> None:
    client = Client(REMOTE_ADDR="10.0.0.5")
    assert_locked(lock(client, HTTP_X_FORWARDED_FOR="192.0.2.1"))
    # What the client prepends is not trusted: the proxy's own entry is the right-most.
    assert_locked(sign_in(client, RIGHT, HTTP_X_FORWARDED_FOR="192.0.2.99, 192.0.2.1"))
    # Another client behind the same proxy is not locked out.
    assert sign_in(client, RIGHT, HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 302
