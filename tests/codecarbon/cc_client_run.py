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
    # CodeCarbon does not send a last delta shorter than 1 s, so stop just after the first
    # measurement that follows a send: the final delta is then about 1 s and is sent. (This
    # only reads the tracker's counter; the client itself is unmodified.)
    give_up = time.monotonic() + 10
    while tracker._measure_occurrence != 1 and time.monotonic() < give_up:
        time.sleep(0.05)
    tracker.stop()
    print(json.dumps({"run_id": str(tracker.run_id)}))


if __name__ == "__main__":
    main()
