"""One benchmark measurement in a fresh interpreter; prints one JSON line.

workload.py import  tracker_client|codecarbon
workload.py startstop tracker_client|codecarbon HUB_URL
workload.py busy none|tracker_client|codecarbon ITERATIONS [HUB_URL]
workload.py idle none|tracker_client|codecarbon SECONDS [HUB_URL]
workload.py spool tracker_client COUNT   (the spool write of one interval, COUNT times)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WARMUP_S = 2.0


def cpu_seconds() -> float:
    """CPU time of this whole process, every thread (also exited ones) included."""
    return time.process_time()


def make_tracker(tool: str, hub_url: str | None) -> Any:
    if tool == "tracker_client":
        sys.path.insert(0, str(ROOT))
        from tracker_client import Tracker

        return Tracker(
            experiment="bench",
            hub_url=hub_url,
            api_key="ehi_bench",
            country="FRA",
            interval_s=1.0,
            summary=False,
            no_cloud_detect=True,
            handle_signals=False,
        )
    if tool == "codecarbon":
        import logging

        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        return OfflineEmissionsTracker(
            country_iso_code="FRA",
            measure_power_secs=1,
            save_to_file=False,
            log_level="error",
        )
    return None


def spool_writes(count: int) -> dict[str, float]:
    """What the write-ahead spool costs the sampling thread: one append per interval (a
    measurement as the Tracker makes it), and one retire per batch of 10 (the hub's
    answer), in the spool directory the tracker would use."""
    sys.path.insert(0, str(ROOT))
    from tracker_client._spool import SpoolFile

    item = {
        "uuid": "",
        "seq": 0,
        "node": "gpu-node-01",
        "rank": 0,
        "start": "2026-11-23T10:00:00.000Z",
        "end": "2026-11-23T10:00:01.000Z",
        "duration_s": 1.000213,
        "epoch": 3,
    }
    for comp, method in (("cpu", "rapl"), ("gpu", "nvml_energy"), ("ram", "constant")):
        item.update(
            {
                f"{comp}_energy_kwh": 2.7777777e-05,
                f"{comp}_power_w": 100.125,
                f"{comp}_utilization_pct": 85.25,
                f"{comp}_method": method,
            }
        )
    appends: list[float] = []
    retires: list[float] = []
    parent = os.environ.get("EMISSIONS_HUB_SPOOL_DIR") or None
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent) as directory:
        spool = SpoolFile(Path(directory), "bench", {"v": 1, "run": {"run_key": "bench"}})
        lines: list[int | None] = []
        for seq in range(count):
            record = {
                "kind": "measurements",
                "items": [{**item, "uuid": str(uuid.uuid4()), "seq": seq}],
            }
            t0 = time.perf_counter()
            lines.append(spool.append(record))
            appends.append(time.perf_counter() - t0)
            if len(lines) == 10:
                t0 = time.perf_counter()
                spool.retire(lines)
                retires.append(time.perf_counter() - t0)
                lines = []
        spool.close()
    appends.sort()
    return {
        "append_us": statistics.median(appends) * 1e6,
        "append_p99_us": appends[int(len(appends) * 0.99)] * 1e6,
        "retire_us": statistics.median(retires) * 1e6,
        "line_bytes": len(json.dumps(record, separators=(",", ":"))) + 1,
    }


def spin(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def main() -> None:
    what, tool = sys.argv[1], sys.argv[2]
    out: dict[str, Any] = {"what": what, "tool": tool}
    if what == "import":
        t0 = time.perf_counter()
        if tool == "tracker_client":
            sys.path.insert(0, str(ROOT))
            import tracker_client  # noqa: F401
        else:
            from codecarbon import OfflineEmissionsTracker  # noqa: F401
        out["import_s"] = time.perf_counter() - t0
    elif what == "spool":
        out.update(spool_writes(int(sys.argv[3])))
    elif what == "startstop":
        tracker = make_tracker(tool, sys.argv[3])
        t0 = time.perf_counter()
        tracker.start()
        out["start_s"] = time.perf_counter() - t0
        time.sleep(2.5)
        t0 = time.perf_counter()
        tracker.stop()
        out["stop_s"] = time.perf_counter() - t0
    else:
        amount = float(sys.argv[3])
        hub_url = sys.argv[4] if len(sys.argv) > 4 else None
        tracker = make_tracker(tool, hub_url)
        if tracker is not None:
            tracker.start()
        # Steady state only: one-off set-up (lazy imports, first run creation) is what
        # the start() figure shows; both tools get the same warm-up.
        time.sleep(WARMUP_S)
        c0, m0, w0 = cpu_seconds(), time.thread_time(), time.perf_counter()
        if what == "busy":
            spin(int(amount))
        else:
            time.sleep(amount)
        out["cpu_s"], out["wall_s"] = cpu_seconds() - c0, time.perf_counter() - w0
        # What every thread but the training (main) one burnt: the tool's own work.
        out["other_threads_cpu_s"] = out["cpu_s"] - (time.thread_time() - m0)
        if tracker is not None:
            tracker.stop()
    out["pid"] = os.getpid()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
