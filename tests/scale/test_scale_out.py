"""The hub scaled out on one machine: two gunicorn web servers behind HAProxy (round robin)
and two Celery workers, on a scratch PostgreSQL database and the local Redis.

Through the load balancer, several threads post measurements to the same runs (resending
some batches); both servers must have served, and the stored totals must be exact. A task
sent to the workers must be done. A key revoked through one server must be refused by both
within API_KEY_CACHE_S + 1 s.

Needs Debian's haproxy (``make haproxy``), PostgreSQL at 127.0.0.1:5432 and Redis at
127.0.0.1:6379 (``make services``). Every process and the scratch database are removed at
the end, pass or fail.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.cast import measurement
from tests.servers import free_port, gunicorn_argv, stop

HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(HAPROXY is None, reason="needs Debian's haproxy (make haproxy)"),
]

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# A Redis database of its own, so that this test never meets the tasks of another.
BROKER = "redis://127.0.0.1:6379/11"
CACHE_S = 2
THREADS = 8
BATCHES_PER_THREAD = 8
BATCH = 50
# Each measurement is a 7 s interval; all of them end an hour or more before now.
INTERVAL_S = 7
RUNS = 3
TIMEOUT = 15


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 3000) -> str:
        try:
            return f"--- {self.name} ({self.log})\n" + self.log.read_text(errors="replace")[-n:]
        except OSError:
            return f"--- {self.name}: no log"


@dataclass
class Hub:
    tmp: Path
    db_name: str
    env: dict[str, str]
    seed: dict[str, Any] = field(default_factory=dict)
    web: dict[str, str] = field(default_factory=dict)  # server name -> base URL
    lb: str = ""
    queue: str = ""
    workers: list[str] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)
    celery: Any = None  # a Celery client of the workers' broker, in the test process

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.procs)

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.db_name}")


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(what: str, check: Callable[[], bool], hub: Hub, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in hub.procs:
            if p.popen.poll() is not None:
                raise AssertionError(f"{p.name} exited ({p.popen.returncode})\n{hub.logs()}")
        try:
            if check():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready after {timeout} s\n{hub.logs()}")


HAPROXY_CFG = """\
global
    maxconn 512

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend hub
    bind 127.0.0.1:{lb_port}
    default_backend web

backend web
    balance roundrobin
    http-response set-header X-Served-By %[srv_name]
{servers}
"""


@pytest.fixture(scope="module")
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("scale")
    db_name = f"eh_scale_{os.getpid()}_{secrets.token_hex(3)}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "emissions_hub.settings",
        "DEBUG": "0",
        "SECRET_KEY": "scale-test-" + secrets.token_urlsafe(32),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_COOKIES": "0",
        "API_KEY_CACHE_S": str(CACHE_S),
        # No lost-run sweep between a test's UPDATE and the Celery tasks it checks.
        "RUN_LOST_SWEEP_S": "0",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MEDIA_ROOT": str(tmp / "media"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    h = Hub(tmp=tmp, db_name=db_name, env=env, queue=f"scale-{os.getpid()}")

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    request.addfinalizer(lambda: drop_database(db_name))

    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "tests/scale/prepare_hub.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    h.seed = json.loads(out.stdout.strip().splitlines()[-1])
    h.seed["migrate_s"] = time.monotonic() - started

    def spawn(name: str, argv: list[str]) -> Proc:
        log = tmp / f"{name}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        h.procs.append(proc)
        request.addfinalizer(lambda: stop(popen))
        return proc

    servers = []
    for name in ("web1", "web2"):
        port = free_port()
        h.web[name] = f"http://127.0.0.1:{port}"
        servers.append(f"    server {name} 127.0.0.1:{port}")
        spawn(
            name,
            # One process each, so "revoked through web1" is revoked in web1's cache.
            gunicorn_argv(port, "--workers", "1", "--worker-class", "gthread", "--threads", "4"),
        )
    for n in (1, 2):
        hostname = f"scale{n}-{os.getpid()}@{socket.gethostname()}"
        h.workers.append(hostname)
        spawn(
            f"worker{n}",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "emissions_hub",
                "worker",
                "--pool=solo",
                "--prefetch-multiplier=1",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                h.queue,
                "-n",
                hostname,
                "--loglevel=WARNING",
            ],
        )
    lb_port = free_port()
    h.lb = f"http://127.0.0.1:{lb_port}"
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(lb_port=lb_port, servers="\n".join(servers)))
    spawn("haproxy", [str(HAPROXY), "-f", str(cfg), "-db"])

    from celery import Celery

    # Celery prefers CELERY_BROKER_URL from the environment to its configuration, and the
    # test settings set it to the suite's broker: point it here while this module runs.
    env_patch = pytest.MonkeyPatch()
    env_patch.setenv("CELERY_BROKER_URL", BROKER)
    env_patch.setenv("CELERY_RESULT_BACKEND", BROKER)
    request.addfinalizer(env_patch.undo)
    h.celery = Celery("scale-probe", broker=BROKER, backend=BROKER)
    request.addfinalizer(lambda: forget_queue(h))

    for name, base in h.web.items():
        wait_for(name, lambda base=base: requests.get(f"{base}/login/", timeout=2).ok, h)
    wait_for("haproxy", lambda: requests.get(f"{h.lb}/login/", timeout=2).ok, h)

    def workers_answer() -> bool:
        replies = h.celery.control.ping(destination=h.workers, timeout=1)
        return {name for reply in replies for name in reply} == set(h.workers)

    wait_for("celery workers", workers_answer, h)
    h.seed["ready_s"] = time.monotonic() - started
    yield h


def forget_queue(h: Hub) -> None:
    """Remove this run's queue from the broker and close the client."""
    try:
        with h.celery.connection_for_write() as conn:
            conn.default_channel.client.delete(
                h.queue, f"_kombu.binding.{h.queue}", f"_kombu.binding_permanent.{h.queue}"
            )
    finally:
        h.celery.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_two_servers_two_workers_exact_totals_and_a_revocation_bound(hub: Hub) -> None:
    key = hub.seed["key"]
    served: Counter[str] = Counter()
    served_lock = threading.Lock()

    def note(response: requests.Response) -> None:
        with served_lock:
            served[response.headers.get("X-Served-By", "?")] += 1

    # --- runs, through the load balancer
    runs: list[str] = []
    with requests.Session() as s:
        for i in range(RUNS):
            r = s.post(
                f"{hub.lb}/api/v1/runs",
                json={"run_key": f"scale-{i}", "experiment": "fleet"},
                headers=bearer(key),
                timeout=TIMEOUT,
            )
            note(r)
            assert r.status_code == 201, r.text[:500]
            runs.append(r.json()["id"])

    # --- measurements from several threads, to the same runs, with resent batches
    span = timedelta(seconds=INTERVAL_S * THREADS * BATCHES_PER_THREAD * BATCH + 3600)
    base = (datetime.now(UTC) - span).replace(minute=0, second=0, microsecond=0)
    posted: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in runs}
    accepted: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    errors: list[str] = []

    def batch_for(thread: int, n: int) -> list[dict[str, Any]]:
        items = []
        for j in range(BATCH):
            k = (thread * BATCHES_PER_THREAD + n) * BATCH + j
            # Back to back, so that some straddle an hour boundary.
            start = base + timedelta(seconds=INTERVAL_S * k)
            items.append(
                measurement(
                    start=start,
                    duration_s=float(INTERVAL_S),
                    cpu_kwh=(k % 5 + 1) / 8192,
                    gpu_kwh=(k % 11 + 1) / 4096,
                    ram_kwh=1 / 65536,
                    uuid=str(uuid.uuid4()),
                    node=f"node-{thread}",
                    rank=thread % 2,
                    seq=k,
                )
            )
        return items

    def post(session: requests.Session, run: str, items: list[dict[str, Any]]) -> None:
        r = session.post(
            f"{hub.lb}/api/v1/runs/{run}/measurements",
            json={"measurements": items},
            headers=bearer(key),
            timeout=TIMEOUT,
        )
        note(r)
        if r.status_code != 200:
            errors.append(f"{r.status_code} {r.text[:300]}")
            return
        body = r.json()
        assert set(body) >= {"accepted", "duplicates", "run"}
        with served_lock:
            accepted[run] += body["accepted"]
            duplicates[run] += body["duplicates"]
            sent[run] += len(items)

    def worker(thread: int) -> None:
        try:
            with requests.Session() as s:
                previous: list[dict[str, Any]] = []
                for n in range(BATCHES_PER_THREAD):
                    run = runs[(thread + n) % RUNS]
                    items = batch_for(thread, n)
                    with served_lock:
                        for m in items:
                            posted[run][(m["uuid"], m["start"])] = m
                    post(s, run, items)
                    if n % 2 == 1:
                        post(s, run, items)  # a resend after a lost answer
                    if previous and n % 3 == 2:
                        # half of the previous batch again, late, while others post
                        prev_run = runs[(thread + n - 1) % RUNS]
                        post(s, prev_run, previous[: BATCH // 2])
                    previous = items
        except Exception as exc:
            errors.append(repr(exc))

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ingest_s = time.monotonic() - started
    assert not errors, f"{errors[:5]}\n{hub.logs()}"

    # Both servers served, through the round robin.
    assert served["web1"] > 0 and served["web2"] > 0, served
    assert served["?"] == 0, served

    # --- exact totals, read from the scratch database
    unique = sum(len(v) for v in posted.values())
    assert sum(accepted.values()) == unique
    assert sum(duplicates.values()) == sum(sent.values()) - unique
    with hub.db() as conn:
        for run in runs:
            mine = posted[run].values()
            energy = sum(
                m["cpu_energy_kwh"] + m["gpu_energy_kwh"] + m["ram_energy_kwh"] for m in mine
            )
            row = conn.execute(
                "SELECT id, measurement_count, energy_kwh, cpu_energy_kwh, gpu_energy_kwh, "
                "ram_energy_kwh, duration_s FROM api_run WHERE uuid = %s",
                [run],
            ).fetchone()
            assert row is not None
            run_pk, count, run_energy, cpu, gpu, ram, duration = row
            stored = conn.execute(
                "SELECT count(*), sum(cpu_energy_kwh + gpu_energy_kwh + ram_energy_kwh) "
                "FROM api_measurement WHERE run_id = %s",
                [run_pk],
            ).fetchone()
            assert stored is not None
            assert count == stored[0] == len(posted[run]) == accepted[run]
            assert run_energy == pytest.approx(energy, rel=1e-12)
            assert stored[1] == pytest.approx(energy, rel=1e-12)
            assert cpu == pytest.approx(sum(m["cpu_energy_kwh"] for m in mine), rel=1e-12)
            assert gpu == pytest.approx(sum(m["gpu_energy_kwh"] for m in mine), rel=1e-12)
            assert ram == pytest.approx(sum(m["ram_energy_kwh"] for m in mine), rel=1e-12)
            assert duration == pytest.approx(INTERVAL_S * len(posted[run]), rel=1e-12)
        hours = conn.execute(
            "SELECT sum(measurement_count), sum(energy_kwh), sum(emissions_kg), sum(gpu_hours), "
            "count(DISTINCT hour) FROM api_usagehour WHERE project_id = %s",
            [hub.seed["project_pk"]],
        ).fetchone()
        totals = conn.execute(
            "SELECT sum(measurement_count), sum(energy_kwh), sum(emissions_kg), sum(gpu_hours) "
            "FROM api_run WHERE project_id = %s",
            [hub.seed["project_pk"]],
        ).fetchone()
    assert hours is not None and totals is not None
    assert hours[0] == totals[0] == unique
    for got, want in zip(hours[1:4], totals[1:4], strict=True):
        assert got == pytest.approx(want, rel=1e-9)
    assert hours[4] >= 2  # the intervals span several UTC hours

    # --- a task on the workers: a silent run is marked lost
    with hub.db() as conn:
        conn.execute(
            "UPDATE api_run SET last_seen_at = now() - interval '2 days' WHERE uuid = %s",
            [runs[0]],
        )
    results = [hub.celery.send_task("api.tasks.mark_lost_runs", queue=hub.queue) for _ in range(6)]
    marked = [r.get(timeout=60) for r in results]
    for r in results:
        r.forget()
    assert sum(marked) == 1, marked  # the sweep is idempotent: one run, marked once
    with hub.db() as conn:
        status = conn.execute("SELECT status FROM api_run WHERE uuid = %s", [runs[0]]).fetchone()
    assert status == ("lost",)
    stats = hub.celery.control.inspect(destination=hub.workers, timeout=5).stats() or {}
    done = {w: sum(stats.get(w, {}).get("total", {}).values()) for w in hub.workers}
    assert sum(done.values()) == len(results), done

    # --- revoke through web1's dashboard; both servers refuse within CACHE_S + 1 s
    for base_url in hub.web.values():
        assert requests.get(f"{base_url}/api/v1/runs", headers=bearer(key), timeout=TIMEOUT).ok
    with requests.Session() as admin:
        page = admin.get(f"{hub.web['web1']}/login/", timeout=TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        login = admin.post(
            f"{hub.web['web1']}/login/",
            data={
                "username": hub.seed["username"],
                "password": hub.seed["password"],
                "csrfmiddlewaretoken": token.group(1),
            },
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        assert login.status_code == 302, login.text[:500]
        # Timed from before the request, so the bound checked is if anything stricter.
        revoked_at = time.monotonic()
        revoke = admin.post(
            f"{hub.web['web1']}/o/{hub.seed['org']}/keys/{hub.seed['key_id']}/revoke",
            headers={"X-CSRFToken": admin.cookies["csrftoken"]},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        assert revoke.status_code == 302, revoke.text[:500]
    refused_after: dict[str, float] = {}
    polls: Counter[str] = Counter()
    deadline = revoked_at + CACHE_S + 1
    while len(refused_after) < len(hub.web) and time.monotonic() < deadline:
        for name, base_url in hub.web.items():
            if name in refused_after:
                continue
            r = requests.get(f"{base_url}/api/v1/runs", headers=bearer(key), timeout=TIMEOUT)
            polls[name] += 1
            if r.status_code == 401:
                refused_after[name] = time.monotonic() - revoked_at
            else:
                assert r.status_code == 200, r.text[:300]
        time.sleep(0.05)
    assert set(refused_after) == set(hub.web), (refused_after, hub.logs())
    # web1 revoked it, so web1 forgot it at once: its first answer after is a refusal.
    assert polls["web1"] == 1, (polls, refused_after)
    with hub.db() as conn:
        row = conn.execute(
            "SELECT revoked_at IS NOT NULL FROM api_apikey WHERE uuid = %s", [hub.seed["key_id"]]
        ).fetchone()
    assert row == (True,)

    print(
        f"\nscale-out: migrate+seed {hub.seed['migrate_s']:.1f} s, all up {hub.seed['ready_s']:.1f} s;"
        f" {unique} measurements ({sum(sent.values())} sent) from {THREADS} threads in "
        f"{ingest_s:.1f} s; served {dict(served)}; tasks per worker {done}; "
        f"refused after revocation (s) { ({k: round(v, 2) for k, v in refused_after.items()}) }"
        f" at poll {dict(polls)}"
    )
