"""Run the real CodeCarbon client against a hub; executed with bench/.venv-codecarbon's python.

Configuration comes from ./.codecarbon.config in the working directory (as a user would
write it); the measuring cadence comes from the command line so the test stays short.
Prints the tracker's run id and the number of seconds it ran.
"""

from __future__ import annotations

import json
import sys
import time

from codecarbon import EmissionsTracker


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.5
    tracker = EmissionsTracker(
        measure_power_secs=1,
        api_call_interval=2,
        tracking_mode="machine",
        allow_multiple_runs=True,
        log_level="debug",
    )
    tracker.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(i * i for i in range(200_000))  # some CPU work
    tracker.stop()
    print(json.dumps({"run_id": str(tracker.run_id), "api_run_id": getattr(tracker, "_cc_api__out", None)}))


if __name__ == "__main__":
    main()
