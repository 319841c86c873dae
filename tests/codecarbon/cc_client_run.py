"""Run the real CodeCarbon client against a hub; executed with bench/.venv-codecarbon's python.

Configuration comes from ./.codecarbon.config in the working directory (as a user would
write it); the cadence comes from the command line so the test stays short:

- ``flush``: no periodic sends; the script flushes after 2.5 s and stops 2.5 s later, so
  every delta is above CodeCarbon's 1 s minimum and nothing is dropped by the client.
- ``live``: measurements every second and a send every 2 measurements, as in training.

Prints the tracker's run id (CodeCarbon writes the string "None" there in API mode).
"""

from __future__ import annotations

import json
import sys
import time

from codecarbon import EmissionsTracker


def work(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(i * i for i in range(200_000))


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "flush"
    tracker = EmissionsTracker(
        measure_power_secs=1,
        api_call_interval=-1 if mode == "flush" else 2,
        tracking_mode="machine",
        allow_multiple_runs=True,
        log_level="debug",
    )
    tracker.start()
    if mode == "flush":
        work(2.5)
        tracker.flush()
        work(2.5)
    else:
        work(5.5)
    tracker.stop()
    print(json.dumps({"run_id": str(tracker.run_id)}))


if __name__ == "__main__":
    main()
