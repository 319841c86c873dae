"""The in-process API-key cache: a key is looked up once per API_KEY_CACHE_S, a key revoked
elsewhere is refused within that bound, and a revocation in this process takes at once."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import exceptions

from api import auth
from api.models import ApiKey, Project
from tests.cast import Cast, api


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[FakeClock]:
    settings.API_KEY_CACHE_S = 5
    clock = FakeClock()
    monkeypatch.setattr(auth, "clock", clock)
    auth.key_cache.clear()
    yield clock
    auth.key_cache.clear()


def key_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "api_apikey" in q["sql"]]


def revoke_elsewhere(plain: str) -> None:
    """Revoke as another process would: in the database, no signal reaches this one."""
    assert ApiKey.objects.filter(prefix=plain[:12]).update(revoked_at=timezone.now()) == 1


def test_a_cached_key_makes_no_query_on_the_second_request(cast: Cast, client: Client) -> None:
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        second = api(client, "get", "/api/v1/projects", cast.ingest_key)
    assert second.status_code == 200
    assert second.json()["results"][0]["name"] == "vision"
    assert key_queries(ctx) == []


def test_a_cached_key_costs_no_query_at_all(cast: Cast, django_assert_num_queries: Any) -> None:
    first, _ = auth.authenticate_key(cast.ingest_key)
    with django_assert_num_queries(0):
        principal, key = auth.authenticate_key(cast.ingest_key)
        # Its project and organisation come with it.
        assert key.project.name == "vision"
        assert key.project.organisation.name == "Acme AI"
        assert principal.project == key.project
    assert key.pk == first.key.pk


def test_a_key_revoked_elsewhere_works_within_the_bound_and_is_refused_after(
    cast: Cast, client: Client, fresh_cache: FakeClock
) -> None:
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    revoke_elsewhere(cast.ingest_key)
    # Used every second; the entry lives 5 s from its lookup, not from its last use.
    for _ in range(4):
        fresh_cache.t += 1.0
        assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    fresh_cache.t += 1.01
    refused = api(client, "get", "/api/v1/projects", cast.ingest_key)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorised"


def test_a_short_bound_is_honoured_in_real_time(
    cast: Cast, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "clock", time.monotonic)
    settings.API_KEY_CACHE_S = 1
    assert api(client, "get", "/api/v1/projects", cast.read_key).status_code == 200
    revoke_elsewhere(cast.read_key)
    assert api(client, "get", "/api/v1/projects", cast.read_key).status_code == 200
    time.sleep(1.05)
    assert api(client, "get", "/api/v1/projects", cast.read_key).status_code == 401


def test_zero_disables_the_cache(cast: Cast, client: Client, settings: Any) -> None:
    settings.API_KEY_CACHE_S = 0
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    assert len(key_queries(ctx)) == 1
    assert len(auth.key_cache) == 0
    revoke_elsewhere(cast.ingest_key)
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 401


def test_a_revocation_in_this_process_takes_at_once(cast: Cast, client: Client) -> None:
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    ApiKey.objects.get(prefix=cast.ingest_key[:12]).revoke()
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 401


def test_a_deleted_key_or_an_edited_project_is_forgotten_here_at_once(cast: Cast) -> None:
    auth.authenticate_key(cast.ingest_key)
    auth.authenticate_key(cast.read_key)
    project = Project.objects.get(pk=cast.project.pk)
    project.pue = 1.25
    project.save()
    _, key = auth.authenticate_key(cast.ingest_key)
    assert key.project.pue == 1.25
    ApiKey.objects.get(prefix=cast.read_key[:12]).delete()
    with pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate_key(cast.read_key)


def test_unknown_keys_are_refused_once_per_bound_and_a_new_key_works_at_once(
    cast: Cast, django_assert_num_queries: Any, fresh_cache: FakeClock
) -> None:
    wrong = "ehi_" + "x" * 43
    with django_assert_num_queries(1), pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate_key(wrong)
    with django_assert_num_queries(0), pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate_key(wrong)
    # A refusal is for that exact key only: a key issued now works at once.
    _, plain = ApiKey.issue(cast.project, "ingest", "new")
    assert auth.authenticate_key(plain)[1].name == "new"
    fresh_cache.t += 5.01
    with django_assert_num_queries(1), pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate_key(wrong)


def test_the_cache_holds_no_plain_key(cast: Cast) -> None:
    auth.authenticate_key(cast.ingest_key)
    with pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate_key("ehi_" + "y" * 43)
    held = set(auth.key_cache._known) | set(auth.key_cache._refused)
    assert hashlib.sha256(cast.ingest_key.encode()).hexdigest() in held
    assert all(len(name) == 64 and not name.startswith("ehi_") for name in held)


def test_last_used_is_still_written_at_most_once_a_minute(
    cast: Cast, django_assert_num_queries: Any
) -> None:
    ApiKey.objects.filter(prefix=cast.ingest_key[:12]).update(
        last_used=timezone.now() - timedelta(minutes=5)
    )
    with django_assert_num_queries(2):  # the lookup, and the last_used update
        auth.authenticate_key(cast.ingest_key)
    stored = ApiKey.objects.get(prefix=cast.ingest_key[:12]).last_used
    assert stored is not None and timezone.now() - stored < timedelta(seconds=5)
    with django_assert_num_queries(0):
        _, key = auth.authenticate_key(cast.ingest_key)
    assert key.last_used == stored


def test_each_request_gets_its_own_copy(cast: Cast) -> None:
    _, first = auth.authenticate_key(cast.ingest_key)
    first.project.organisation.basis = "tampered"
    first.project.country = "XXX"
    _, second = auth.authenticate_key(cast.ingest_key)
    assert second.project.organisation.basis != "tampered"
    assert second.project.country == "FRA"


def test_the_cache_is_thread_safe_and_bounded() -> None:
    cache = auth.KeyCache(max_entries=50)
    keys = [ApiKey(pk=i, project_id=i % 3, prefix=f"p{i}") for i in range(200)]
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for n in range(2000):
                k = keys[(n + offset) % len(keys)]
                name = f"{k.pk:064d}"
                cache.put(name, k if n % 5 else None, expires=10.0)
                entry = cache.get(name, now=1.0)
                assert entry is None or entry.key is None or entry.key.pk == k.pk
                if n % 97 == 0:
                    cache.evict(lambda key: key.pk == k.pk)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i * 7,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache._known) <= 50 and len(cache._refused) <= 50
    assert cache.get(f"{keys[0].pk:064d}", now=11.0) is None  # expired


def test_a_lookup_racing_a_revocation_in_this_process_is_not_kept(cast: Cast) -> None:
    real_lookup = ApiKey.lookup

    def racing(plain: str) -> ApiKey | None:
        key = real_lookup(plain)  # read while still active...
        assert key is not None
        ApiKey.objects.get(pk=key.pk).revoke()  # ...as another thread revokes it
        return key

    with mock.patch.object(ApiKey, "lookup", side_effect=racing):
        auth.authenticate_key(cast.ingest_key)
    with pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate_key(cast.ingest_key)
