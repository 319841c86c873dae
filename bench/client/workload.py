"""One benchmark measurement in a fresh interpreter; prints one JSON line.

workload.py import  tracker_client|codecarbon
workload.py startstop tracker_client|codecarbon HUB_URL
workload.py busy none|tracker_client|codecarbon ITERATIONS [HUB_URL]
workload.py idle none|tracker_client|codecarbon SECONDS [HUB_URL]
"""

from __future__ import annotations

import json
import os
import sys
import time
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
