"""API rate limits (api/throttling.py): per key (or user) and scope, counted in the shared
cache, answered 429 JSON with Retry-After."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client, override_settings

from api import throttling
from api.models import ApiKey
from tests.cast import Cast, api
from tests.codecarbon.test_cc_endpoints import run_body

# 10 s into a minute: a window of one minute ends 50 s later.
T0 = 1_800_000_000.0 - 1_800_000_000.0 % 60 + 10


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fixed clock for the windows (a real minute could end mid-test), and no counts
    left in this process from another test."""
    now = [T0]
    monkeypatch.setattr(throttling, "clock", lambda: now[0])
    monkeypatch.setattr(throttling, "_tallies", {})
    return now


@pytest.fixture(autouse=True)
def cache_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the cache taken as reachable."""
    monkeypatch.setattr(throttling, "_cache_down_until", [0.0])


def new_run(client: Client, key: str, run_key: str = "job-1") -> Any:
    return api(client, "post", "/api/v1/runs", key, {"run_key": run_key, "experiment": "e"})


def assert_throttled(answer: Any, message: str, retry_after: int) -> None:
    assert answer.status_code == 429, answer.content
    assert answer["Retry-After"] == str(retry_after)
    assert answer["Content-Type"] == "application/json"
    body = answer.json()
    assert body["error"] == "throttled"
    assert message in body["message"], body["message"]
    assert f"Expected available in {retry_after} seconds" in body["message"]


def test_the_defaults_leave_room_for_a_fleet_on_one_key() -> None:
    # 10,000 ranks posting every 10 s on one project key: 60,000 a minute.
    assert settings.API_RATE_INGEST == "100000/min"
    assert settings.API_RATE_READ == "1200/min"


@override_settings(API_RATE_INGEST="3/min")
def test_over_the_ingest_limit_a_key_gets_429_with_retry_after(
    cast: Cast, client: Client, clock: list[float]
) -> None:
    for i in range(3):
        assert new_run(client, cast.ingest_key).status_code in (200, 201), i
    assert_throttled(
        new_run(client, cast.ingest_key),
        "Too many ingestion requests from this API key: the limit is 3/min (API_RATE_INGEST).",
        50,
    )
    # Another key counts apart, and so do the same key's reads.
    assert new_run(client, cast.other_ingest_key).status_code == 201
    assert api(client, "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    # The next window starts afresh.
    clock[0] += 50
    assert new_run(client, cast.ingest_key).status_code == 200


@override_settings(API_RATE_READ="2/min")
def test_reads_have_their_own_limit_per_key_and_per_user(
    cast: Cast, client: Client, clock: list[float]
) -> None:
    for _ in range(2):
        assert api(client, "get", "/api/v1/projects", cast.read_key).status_code == 200
    assert_throttled(
        api(client, "get", "/api/v1/projects", cast.read_key),
        "Too many read requests from this API key: the limit is 2/min (API_RATE_READ).",
        50,
    )
    assert api(client, "get", "/api/v1/projects", cast.other_read_key).status_code == 200
    viewer = cast.client_for("viewer")
    for _ in range(2):
        assert viewer.get("/api/v1/projects").status_code == 200
    assert_throttled(viewer.get("/api/v1/projects"), "from this user", 50)
    assert cast.client_for("owner").get("/api/v1/projects").status_code == 200


@override_settings(API_RATE_INGEST="2/min")
def test_the_codecarbon_endpoints_share_the_keys_ingest_limit(
    cast: Cast, client: Client, clock: list[float]
) -> None:
    assert new_run(client, cast.ingest_key).status_code == 201

    def cc_run(key: str) -> Any:
        body = json.dumps(run_body())
        return client.post(
            "/api/codecarbon/runs", body, content_type="application/json", HTTP_X_API_TOKEN=key
        )

    assert cc_run(cast.ingest_key).status_code == 201
    assert_throttled(cc_run(cast.ingest_key), "this API key", 50)
    assert cc_run(cast.other_ingest_key).status_code == 201


@override_settings(API_RATE_INGEST="1/s")
def test_retry_after_is_the_rest_of_the_window(
    cast: Cast, client: Client, clock: list[float]
) -> None:
    clock[0] = T0 + 0.2
    assert new_run(client, cast.ingest_key).status_code == 201
    refused = new_run(client, cast.ingest_key)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"  # 0.8 s, rounded up


@override_settings(
    API_RATE_INGEST="1/min",
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    },
)
def test_an_unreachable_cache_lets_requests_through(
    cast: Cast, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    throttling._last_logged[0] = -1e9
    for run_key in ("a", "b", "c"):
        assert new_run(client, cast.ingest_key, run_key).status_code == 201
    assert "API rate limits not applied: the cache is unreachable" in caplog.text


def test_the_count_lives_in_redis_where_every_process_sees_it(
    cast: Cast, client: Client, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttling, "MAX_BATCH", 2)  # far from the limit: batches of two
    assert new_run(client, cast.ingest_key).status_code == 201
    assert new_run(client, cast.ingest_key).status_code == 200
    key = ApiKey.objects.get(prefix=cast.ingest_key[:12])
    cache = settings.CACHES["default"]
    raw = redis.Redis.from_url(str(cache["LOCATION"]))
    name = f"{cache['KEY_PREFIX']}:1:throttle:ingest:key{key.pk}:{int(T0 // 60)}"
    assert raw.get(name) == b"2"
    assert 60 < raw.ttl(name) <= 65  # outlives its window by the clock skew allowed


def test_far_from_the_limit_counts_reach_the_cache_in_batches(
    cast: Cast, client: Client, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet far below its limit costs a cache round trip per batch, not per request;
    near the limit every request is counted in the cache, so the limit is exact."""
    trips: list[int] = []
    add = throttling._add

    def counted(key: str, amount: int, timeout: int) -> int | None:
        trips.append(amount)
        return add(key, amount, timeout)

    monkeypatch.setattr(throttling, "_add", counted)
    with override_settings(API_RATE_INGEST="100000/min"):
        for i in range(250):
            assert new_run(client, cast.ingest_key, f"far-{i % 3}").status_code in (200, 201)
    assert trips == [100, 100]  # the last 50 wait for the next batch or FLUSH_S
    trips.clear()
    with override_settings(API_RATE_INGEST="40/min"):
        answers = [new_run(client, cast.ingest_key, "near").status_code for _ in range(45)]
    # 250 already counted this minute (200 in the cache): every request is over 40.
    assert set(answers) == {429}
    with override_settings(API_RATE_READ="40/min"):
        reads = [api(client, "get", "/api/v1/runs", cast.ingest_key).status_code for _ in range(45)]
    assert reads == [200] * 40 + [429] * 5  # counted one by one near the limit: exact
    assert trips[-20:] == [1] * 20 and sum(trips[45:]) == 45


@override_settings(API_RATE_INGEST="1/min")
def test_a_failing_cache_is_left_alone_for_a_while(
    cast: Cast, client: Client, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache that hangs costs one request its timeout, not every request."""
    calls: list[str] = []

    def hung(key: str, amount: int, timeout: int) -> int | None:
        calls.append(key)
        return None  # what _add answers once the cache's socket timeout has passed

    monkeypatch.setattr(throttling, "_add", hung)
    for run_key in ("a", "b", "c", "d"):
        assert new_run(client, cast.ingest_key, run_key).status_code == 201
    assert len(calls) == 1
    monkeypatch.setattr(throttling, "_cache_down_until", [0.0])  # CACHE_RETRY_S later
    assert new_run(client, cast.ingest_key, "e").status_code == 201
    assert len(calls) == 2
