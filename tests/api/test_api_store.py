"""The thin ingest path: one statement per batch, HOT run updates, and sums that agree.

The run totals, the hourly aggregates and the sum of the stored measurements must agree
exactly whichever way they were computed: incrementally by ingestion, batch after batch,
or from scratch by a rebuild. Both use ``api.sums``; these tests hold them to it.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import aggregates, ingest, schema
from api.models import Measurement, Run, UsageHour
from tests.cast import Cast, api, measurement

BASE = datetime(2026, 3, 14, 9, 40, tzinfo=UTC)
QUANTITIES = ("energy_kwh", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh", "emissions_kg")


def new_run(client: Client, cast: Cast, key: str = "store") -> str:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": key, "experiment": "e"})
    assert r.status_code in (200, 201), r.content
    return str(r.json()["id"])


def post(client: Client, cast: Cast, run_id: str, items: list[dict[str, Any]]) -> Any:
    return api(
        client,
        "post",
        f"/api/v1/runs/{run_id}/measurements",
        cast.ingest_key,
        {"measurements": items},
    )


def random_items(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Intervals of 1 s to 3 h, gaps and overlaps, several ranks, some on hour edges."""
    items = []
    for i in range(n):
        start = BASE + timedelta(seconds=rng.choice([0, 1200, 3600 * rng.random() * 30]))
        seconds = rng.choice([0.0, 1.0, 15.0, 599.5, 3600.0, 10_800.0 * rng.random()])
        items.append(
            measurement(
                start=start,
                duration_s=seconds,
                cpu_kwh=rng.random() * 1e-3 if seconds else 0.0,
                gpu_kwh=rng.random() * 1e-2 if seconds else 0.0,
                ram_kwh=0.0,
                rank=i % 3,
                gpu_method=rng.choice(["nvml_energy", "tdp_model", "imported"]),
            )
        )
    return items


def stored_sums(run_pk: int) -> dict[str, float]:
    rows = Measurement.objects.filter(run_id=run_pk)
    got = rows.aggregate(
        cpu_energy_kwh=Sum("cpu_energy_kwh"),
        gpu_energy_kwh=Sum("gpu_energy_kwh"),
        ram_energy_kwh=Sum("ram_energy_kwh"),
        emissions_kg=Sum("emissions_kg"),
        n=Count("id"),
    )
    got["energy_kwh"] = got["cpu_energy_kwh"] + got["gpu_energy_kwh"] + got["ram_energy_kwh"]
    return got


def test_a_batch_is_one_statement_and_answers_the_new_totals(
    cast: Cast, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run(client, cast)
    post(client, cast, run_id, [measurement(start=BASE)])  # the key is now cached
    items = [measurement(start=BASE + timedelta(seconds=20 * i)) for i in range(1, 6)]
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def spy(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append(str(query))
        return execute(self, query, params, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    with CaptureQueriesContext(connection) as ctx:
        r = post(client, cast, run_id, items)
    monkeypatch.undo()
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["accepted"], body["duplicates"]) == (5, 0)
    # No ORM query at all (the savepoints are the test's transaction's: in autocommit,
    # as a web request runs, there is none), and one statement that stores and answers.
    assert [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]] == []
    sent = [q for q in sent if "SAVEPOINT" not in q]
    assert len(sent) == 1, [q[:80] for q in sent]
    assert "api_measurement" in sent[0] and "api_usagehour" in sent[0]
    run = Run.objects.get(uuid=run_id)
    assert body["run"]["measurement_count"] == run.measurement_count == 6
    assert body["run"]["energy_kwh"] == pytest.approx(run.energy_kwh, rel=1e-3)
    assert body["run"]["experiment"] == "e"
    assert body["run"]["factor"]["zone"] == run.factor.zone


def test_an_unknown_run_or_another_projects_run_is_a_404(cast: Cast, client: Client) -> None:
    r = post(client, cast, str(uuid.uuid4()), [measurement(start=BASE)])
    assert r.status_code == 404
    other = api(
        client, "post", "/api/v1/runs", cast.other_ingest_key, {"run_key": "theirs"}
    ).json()["id"]
    r = post(client, cast, other, [measurement(start=BASE)])
    assert r.status_code == 404
    assert Measurement.objects.count() == 0


def test_resends_are_duplicates_and_change_nothing(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    items = [measurement(start=BASE + timedelta(seconds=10 * i)) for i in range(50)]
    assert post(client, cast, run_id, items[:30]).json()["accepted"] == 30
    before = Run.objects.get(uuid=run_id)
    again = post(client, cast, run_id, items).json()
    assert (again["accepted"], again["duplicates"]) == (20, 30)
    twice = post(client, cast, run_id, items).json()
    assert (twice["accepted"], twice["duplicates"]) == (0, 50)
    run = Run.objects.get(uuid=run_id)
    assert run.measurement_count == 50 == Measurement.objects.count()
    assert run.energy_kwh > before.energy_kwh
    assert twice["run"]["measurement_count"] == 50


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_totals_hours_and_measurements_agree_and_a_rebuild_writes_the_same(
    cast: Cast, client: Client, seed: int
) -> None:
    rng = random.Random(seed)
    run_id = new_run(client, cast, f"agree-{seed}")
    items = random_items(rng, 120)
    for lo in range(0, len(items), 17):
        assert post(client, cast, run_id, items[lo : lo + 17]).status_code == 200
    run = Run.objects.get(uuid=run_id)
    want = stored_sums(run.pk)
    hours = UsageHour.objects.filter(project=cast.project).aggregate(
        **{q: Sum(q) for q in QUANTITIES}, n=Sum("measurement_count")
    )
    for q in QUANTITIES:
        assert getattr(run, q) == pytest.approx(want[q], rel=1e-12, abs=1e-15), q
        assert hours[q] == pytest.approx(want[q], rel=1e-12, abs=1e-15), q
    assert run.measurement_count == hours["n"] == want["n"] == 120

    def snapshot() -> dict[Any, tuple[float, ...]]:
        return {
            (h.hour, h.zone, h.factor_id, h.pue): (
                h.energy_kwh,
                h.emissions_kg,
                h.duration_s,
                h.gpu_hours,
                h.measurement_count,
            )
            for h in UsageHour.objects.filter(project=cast.project)
        }

    incremental = snapshot()
    totals = {q: getattr(run, q) for q in (*QUANTITIES, "gpu_hours", "measured_energy_kwh")}
    aggregates.rebuild_project(cast.project.pk)
    rebuilt = snapshot()
    assert incremental.keys() == rebuilt.keys()
    for key, values in incremental.items():
        assert rebuilt[key] == pytest.approx(values, rel=1e-12, abs=1e-15), key
    run.refresh_from_db()
    for q, value in totals.items():
        assert getattr(run, q) == pytest.approx(value, rel=1e-12, abs=1e-15), q


def test_an_interval_is_split_across_the_hours_it_spans(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    start = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    # 90 minutes at a constant 3.6 kW: 1.8 kWh in 9h, 3.6 kWh in 10h; counted at 9h.
    item = measurement(start=start, duration_s=5400.0, cpu_kwh=0.0, gpu_kwh=5.4, ram_kwh=0.0)
    assert post(client, cast, run_id, [item]).json()["accepted"] == 1
    rows = {h.hour: h for h in UsageHour.objects.order_by("hour")}
    nine, ten = start.replace(minute=0), start.replace(minute=0) + timedelta(hours=1)
    assert set(rows) == {nine, ten}
    assert rows[nine].gpu_energy_kwh == pytest.approx(1.8)
    assert rows[ten].gpu_energy_kwh == pytest.approx(3.6)
    assert (rows[nine].measurement_count, rows[ten].measurement_count) == (1, 0)
    assert rows[nine].duration_s + rows[ten].duration_s == pytest.approx(5400.0)


def run_table_updates() -> tuple[int, int]:
    """(updates, heap-only updates) of api_run so far, this backend's own included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(0.3)  # the backend flushes its counters when it goes idle
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'api_run'"
        )
        updates, hot = cursor.fetchone()
    return int(updates), int(hot)


@pytest.mark.django_db(transaction=True)
def test_run_total_updates_are_heap_only(cast: Cast, client: Client) -> None:
    """No index of api_run holds a column that changes on every post, so the run row is
    updated in place (HOT): each post, its own transaction, rewrites no index entry."""
    run_id = new_run(client, cast)
    run = Run.objects.get(uuid=run_id)
    ingest.ingest_measurements(run, schema.measurements([measurement(start=BASE)]))
    before = run_table_updates()
    for i in range(1, 21):
        batch = [measurement(start=BASE + timedelta(seconds=30 * i))]
        ingest.ingest_measurements(run, schema.measurements(batch))
    after = run_table_updates()
    updates, hot = after[0] - before[0], after[1] - before[1]
    assert updates >= 20
    assert hot >= updates - 1, (updates, hot)
