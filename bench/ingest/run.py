"""Ingestion benchmark: a real server (gunicorn, 2 workers) on PostgreSQL, fed by a load
generator on loopback.

Prints measurements per second for batches of 100 and requests per second for
single-measurement posts, with p50 and p99 latency and the error count.
Target on a 2-core machine: at least 5,000 measurements per second in batches of 100.

Usage: python bench/ingest/run.py [--seconds 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "emissions_hub_bench_ingest"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sh(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        args, check=True, capture_output=True, text=True, env=env, cwd=ROOT
    ).stdout


def make_items(n: int, run_index: int, offset: int) -> list[dict[str, object]]:
    base = datetime.now(UTC) - timedelta(days=60)
    items = []
    for i in range(n):
        start = base + timedelta(seconds=offset + i)
        items.append(
            {
                "uuid": str(uuid.uuid4()),
                "seq": offset + i,
                "node": f"bench-{run_index}",
                "rank": 0,
                "start": start.isoformat(),
                "end": (start + timedelta(seconds=10)).isoformat(),
                "duration_s": 10.0,
                "cpu_energy_kwh": 0.0001,
                "gpu_energy_kwh": 0.0008,
                "ram_energy_kwh": 0.00001,
                "cpu_power_w": 36.0,
                "gpu_power_w": 288.0,
                "ram_power_w": 3.6,
                "cpu_method": "rapl",
                "gpu_method": "nvml_energy",
                "ram_method": "constant",
                "gpu_count": 1,
            }
        )
    return items


def load(
    port: int, key: str, paths: list[str], bodies: list[bytes], seconds: float, concurrency: int
) -> dict[str, float]:
    """Send pre-built bodies from ``concurrency`` keep-alive connections for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    cursor = [0]
    stop_at = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.perf_counter() < stop_at:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= len(bodies):
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", paths[i % len(paths)], body=bodies[i], headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=8, help="runs the batches are spread over")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME], check=True
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
    py = sys.executable
    sh(py, "manage.py", "migrate", "--no-input", "-v0", env=env)
    key = (
        sh(
            py,
            "manage.py",
            "create_api_key",
            "--org",
            "Bench",
            "--project",
            "ingest",
            "--scope",
            "ingest",
            "--country",
            "FRA",
            env=env,
        )
        .strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = subprocess.Popen(
        [
            py,
            "-m",
            "gunicorn",
            "emissions_hub.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        conn = None
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/projects", headers={"Authorization": f"Bearer {key}"})
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        assert conn is not None
        run_ids = []
        for r in range(args.runs):
            conn.request(
                "POST",
                "/api/v1/runs",
                body=json.dumps({"run_key": f"bench-{r}", "experiment": "bench"}),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            run_ids.append(json.loads(conn.getresponse().read())["id"])
        paths = [f"/api/v1/runs/{rid}/measurements" for rid in run_ids]

        # Pre-build every body so the load generator spends its CPU on sending, not on JSON.
        est_batches = int(args.seconds * 150)
        batches = [
            json.dumps({"measurements": make_items(100, i % args.runs, i * 100)}).encode()
            for i in range(est_batches)
        ]
        print(
            f"Ingestion benchmark: gunicorn 2 workers, PostgreSQL, {args.concurrency} client connections, {args.seconds:.0f} s per phase"
        )
        res = load(port, key, paths, batches, args.seconds, args.concurrency)
        mps = res["requests"] * 100 / res["elapsed_s"]
        print(
            f"  batches of 100: {mps:,.0f} measurements/s ({res['rps']:.1f} requests/s), p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, errors {res['errors']}  [target >= 5,000 measurements/s, 0 errors]"
        )

        singles = [
            json.dumps({"measurements": make_items(1, i % args.runs, 4_000_000 + i)}).encode()
            for i in range(int(args.seconds * 1500))
        ]
        res1 = load(port, key, paths, singles, args.seconds, args.concurrency)
        print(
            f"  single measurements: {res1['rps']:,.0f} requests/s, p50 {res1['p50_ms']:.1f} ms, p99 {res1['p99_ms']:.1f} ms, errors {res1['errors']}"
        )

        # Check nothing was lost or double counted: the hub's count equals what was accepted.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        total = 0
        for rid in run_ids:
            conn.request("GET", f"/api/v1/runs/{rid}", headers={"Authorization": f"Bearer {key}"})
            total += json.loads(conn.getresponse().read())["measurement_count"]
        sent = (res["requests"] - res["errors"]) * 100 + (res1["requests"] - res1["errors"])
        print(f"  stored measurements: {total:,} (sent and acknowledged: {sent:,})")
        if res["errors"] or res1["errors"] or total != sent:
            sys.exit(1)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
