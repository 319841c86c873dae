"""Shared fixtures for the client tests: a loopback fake hub and deterministic sensors."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tracker_client._sensors import Reading  # noqa: E402

API_KEY = "ehi_test_key"


class FakeHub:
    """The contract's ingest endpoints on 127.0.0.1, scriptable to fail.

    ``script("500", "429:1", "hang:2", "400")`` queues one behaviour per coming request;
    ``stop()`` then ``start()`` refuses connections for a while on the same port.
    """

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.measurements: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.finishes: list[tuple[str, dict[str, Any]]] = []
        self.predictions: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[tuple[str, str, float]] = []
        self._script: list[str] = []
        self._lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    # ------------------------------------------------------------- control
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *behaviours: str) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def start(self) -> None:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                hub._connections.add(self.connection)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                hub._handle(self, body)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        # A real restart drops kept-alive connections too.
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._connections.clear()

    # ------------------------------------------------------------- views
    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def run_object(self, run_id: str) -> dict[str, Any]:
        run = self.runs[run_id]
        items = [m for m in self.measurements.values() if m["_run"] == run_id]
        energy = sum(m["cpu_energy_kwh"] + m["gpu_energy_kwh"] + m["ram_energy_kwh"] for m in items)
        return {
            **run,
            "energy_kwh": energy,
            "emissions_kg": energy * 1.2 * 56 / 1000,
            "measurement_count": len(items),
        }

    def _handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        path = h.path
        self.requests.append(("POST", path, time.monotonic()))
        with self._lock:
            behaviour = self._script.pop(0) if self._script else "ok"
        kind, _, arg = behaviour.partition(":")
        if kind == "500":
            return self._send(h, 500, {"error": "server_error", "message": "boom"})
        if kind == "429":
            return self._send(
                h, 429, {"error": "throttled", "message": "slow down"}, {"Retry-After": arg or "1"}
            )
        if kind == "400":
            return self._send(
                h, 400, {"error": "invalid", "message": "bad measurement", "fields": {"x": ["bad"]}}
            )
        if kind == "hang":
            time.sleep(float(arg or 2))  # then process: the late request must be deduplicated
        if h.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._send(h, 401, {"error": "unauthorized", "message": "wrong key"})
        parts = path.strip("/").split("/")  # api v1 runs [id] [verb]
        with self._lock:
            if parts == ["api", "v1", "runs"]:
                key = body["run_key"]
                created = key not in self.by_key
                if created:
                    run_id = str(uuid.uuid4())
                    self.by_key[key] = run_id
                    self.runs[run_id] = {
                        "id": run_id,
                        "run_key": key,
                        "status": "running",
                        "experiment": body["experiment"],
                        "zone": body.get("country") or "WORLD",
                        "zone_label": "France" if body.get("country") else "World",
                        "location_known": bool(body.get("country")),
                        "intensity_g_per_kwh": 56.0,
                        "pue": 1.2,
                        "url": f"{self.url}/runs/{run_id}/",
                        "payload": body,
                    }
                answer = self.run_object(self.by_key[key])
                status = 201 if created else 200
            elif len(parts) == 5 and parts[4] == "measurements":
                run_id = parts[3]
                if run_id not in self.runs:
                    return self._send(h, 404, {"error": "not_found", "message": "no such run"})
                items = body["measurements"]
                accepted = 0
                for m in items:
                    if m["uuid"] in self.measurements:
                        self.duplicates += 1
                    else:
                        self.measurements[m["uuid"]] = {**m, "_run": run_id}
                        accepted += 1
                answer = {
                    "accepted": accepted,
                    "duplicates": len(items) - accepted,
                    "run": self.run_object(run_id),
                }
                status = 200
            elif len(parts) == 5 and parts[4] == "finish":
                self.finishes.append((parts[3], body))
                self.runs[parts[3]]["status"] = body["status"]
                answer, status = self.run_object(parts[3]), 200
            elif len(parts) == 5 and parts[4] == "prediction":
                self.predictions.append((parts[3], body))
                answer, status = {**self.run_object(parts[3]), **body}, 200
            else:
                return self._send(h, 404, {"error": "not_found", "message": path})
        self._send(h, status, answer)

    # ------------------------------------------------------------- checks
    def items(self, rank: int | None = None) -> list[dict[str, Any]]:
        out = [m for m in self.measurements.values() if rank is None or m["rank"] == rank]
        return sorted(out, key=lambda m: (m["rank"], m["seq"]))

    def total_kwh(self) -> float:
        return sum(
            m["cpu_energy_kwh"] + m["gpu_energy_kwh"] + m["ram_energy_kwh"]
            for m in self.measurements.values()
        )

    def assert_contiguous(self) -> None:
        ranks = {m["rank"] for m in self.measurements.values()}
        for r in ranks:
            seqs = [m["seq"] for m in self.items(r)]
            assert seqs == list(range(len(seqs))), f"rank {r}: gap or duplicate in {seqs}"


class FakeSensors:
    """Constant power per component, energy = power x elapsed: deterministic totals."""

    hardware = {"cpu_model": "Fake CPU", "cpu_count": 4, "gpu_count": 1, "ram_gb": 16}
    needs_poll = False

    def __init__(self, cpu_w: float = 100.0, gpu_w: float = 300.0, ram_w: float = 6.0) -> None:
        self.power = {"cpu": cpu_w, "gpu": gpu_w, "ram": ram_w}
        self.methods = {"cpu": "rapl", "gpu": "nvml_energy", "ram": "constant"}
        self.last = time.monotonic()
        self.reads = 0

    def read(self) -> dict[str, Reading]:
        now = time.monotonic()
        dt, self.last = now - self.last, now
        self.reads += 1
        return {k: Reading(p * dt / 3.6e6, p, 50.0, self.methods[k]) for k, p in self.power.items()}

    def close(self) -> None:
        pass


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
    """Whether ``predicate()`` becomes true within ``timeout`` seconds (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(autouse=True)
def client_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolate every test: own spool and config dirs, no cloud probing, no signal handlers."""
    import os

    for name in list(os.environ):
        if name.startswith("EMISSIONS_HUB_") or name in {
            "RANK",
            "LOCAL_RANK",
            "WORLD_SIZE",
            "LOCAL_WORLD_SIZE",
            "SLURM_JOB_ID",
            "SLURM_PROCID",
            "TORCHELASTIC_RUN_ID",
            "CUDA_VISIBLE_DEVICES",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("EMISSIONS_HUB_NO_CLOUD_DETECT", "1")
    monkeypatch.setenv("EMISSIONS_HUB_HANDLE_SIGNALS", "0")
    monkeypatch.setenv("EMISSIONS_HUB_BATCH_WAIT_S", "0")
    monkeypatch.setenv("EMISSIONS_HUB_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)

    def no_network(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("a test tried to reach a cloud metadata service")

    monkeypatch.setattr("tracker_client._location._urllib_fetch", no_network)
    yield tmp_path


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_sensors() -> FakeSensors:
    return FakeSensors()


@pytest.fixture
def sensors_factory() -> type[FakeSensors]:
    return FakeSensors


# A tracked child process: ``{body}`` runs after the tracker is built. It records every
# interval the hub should get (a short last one merged into the one before is not one)
# in ``record``, after the tracker has taken it.
CHILD = """
import json, os, signal, sys, time
# A suite started with SIGINT ignored (nohup, `trap '' INT`, a background job) passes
# SIG_IGN on, and Python then installs no KeyboardInterrupt handler: restore it.
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
from tracker_client import Tracker

record = open({record!r}, "a")
tracker = Tracker(experiment="child", hub_url={url!r}, api_key={key!r}, country="FRA",
                  run_key={run_key!r}, interval_s=0.05, handle_signals=True, flush_timeout_s=3)
original = tracker._sample

def recording_sample(min_s=0.0, kind="measurement"):
    m = original(min_s, kind)
    if m is not None and tracker._seq > m["seq"]:  # not merged into the one before
        record.write(json.dumps({{"uuid": m["uuid"], "seq": m["seq"]}}) + "\\n")
        record.flush()
    return m

tracker._sample = recording_sample
{body}
"""


class Child:
    """A spawned ``CHILD`` process and the record of the intervals it measured."""

    def __init__(self, proc: subprocess.Popen[str], record: Path) -> None:
        self.proc = proc
        self.record = record

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def recorded(self) -> list[dict[str, Any]]:
        """One ``{"uuid", "seq"}`` per interval, in order (a torn last line left out)."""
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def uuids(self) -> set[str]:
        return {m["uuid"] for m in self.recorded()}


@pytest.fixture
def spawn(hub: FakeHub, tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start ``CHILD`` with a body; every child still alive at the end is killed."""
    children: list[subprocess.Popen[str]] = []

    def start(body: str, run_key: str = "child-run", env: dict[str, str] | None = None) -> Child:
        record = tmp_path / "record.jsonl"
        script = tmp_path / "child.py"
        script.write_text(
            CHILD.format(
                root=str(ROOT),
                record=str(record),
                url=hub.url,
                key=API_KEY,
                run_key=run_key,
                body=textwrap.dedent(body),
            )
        )
        full_env = {**os.environ, "EMISSIONS_HUB_HANDLE_SIGNALS": "1", **(env or {})}
        proc = subprocess.Popen(
            [sys.executable, str(script)], env=full_env, stdout=subprocess.PIPE, text=True
        )
        children.append(proc)
        return Child(proc, record)

    yield start
    for proc in children:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
