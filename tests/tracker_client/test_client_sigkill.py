"""SIGKILL (what the out-of-memory killer sends): nothing measured is lost.

A real tracked process completes intervals and is killed with SIGKILL in the middle of
its run; a later start in the same spool directory (or ``flush``) delivers every interval
it completed, each once, to its own run, and ends that run as failed.
"""

from __future__ import annotations

import signal
from typing import Any

from tests.tracker_client.conftest import wait_for
from tracker_client import Tracker
from tracker_client._cli import main

API_KEY = "ehi_test_key"

TRAINING = """
tracker.start()
print("ready", flush=True)
while True:
    time.sleep(0.01)
"""


def kill_after(child: Any, intervals: int) -> list[dict[str, Any]]:
    """SIGKILL the child once it has completed ``intervals``; what it had recorded."""
    child.wait_ready()
    assert wait_for(lambda: len(child.recorded()) >= intervals, 10.0), "the child measured nothing"
    child.proc.send_signal(signal.SIGKILL)
    assert child.proc.wait(10) == -signal.SIGKILL
    return child.recorded()


def assert_every_interval_once(hub: Any, run_key: str, recorded: list[dict[str, Any]]) -> None:
    run_id = hub.by_key[run_key]
    mine = sorted(
        (m for m in hub.measurements.values() if m["_run"] == run_id), key=lambda m: m["seq"]
    )
    # Every interval the child completed is there once, in its own run; the interval it
    # was writing when killed may be there too (taken, not yet in the child's record).
    assert {m["uuid"] for m in recorded} <= {m["uuid"] for m in mine}
    assert [m["seq"] for m in mine] == list(range(len(mine)))
    assert len(recorded) <= len(mine) <= len(recorded) + 1


def test_intervals_waiting_in_memory_are_delivered_by_the_next_start(hub, spawn, sensors_factory):
    # A long batch wait: at the kill every interval is still waiting in the child's memory.
    child = spawn(TRAINING, run_key="killed-1", env={"EMISSIONS_HUB_BATCH_WAIT_S": "30"})
    recorded = kill_after(child, 6)
    assert len(recorded) >= 6
    assert hub.by_key.get("killed-1") and not hub.measurements, "sent before the kill"

    later = Tracker(
        experiment="next",
        hub_url=hub.url,
        api_key=API_KEY,
        run_key="next-1",
        interval_s=60,
        sensors=sensors_factory(),
        summary=False,
    ).start()
    killed_run = hub.by_key["killed-1"]
    assert wait_for(lambda: any(run == killed_run for run, _ in hub.finishes), 10.0)
    later.stop()
    assert_every_interval_once(hub, "killed-1", recorded)
    # The killed process never finished its run: the replay ends it as failed.
    assert [body["status"] for run, body in hub.finishes if run == killed_run] == ["failed"]
    assert hub.runs[killed_run]["status"] == "failed"


def test_flush_delivers_the_rest_of_a_killed_run_once(hub, spawn, tmp_path, capsys):
    # No batch wait: most intervals reached the hub before the kill, the rest is spooled.
    child = spawn(TRAINING, run_key="killed-2")
    recorded = kill_after(child, 10)
    before = len(hub.measurements)
    files = list((tmp_path / "spool").glob("*.jsonl"))
    assert len(files) == 1, "the killed process left no spool file"

    assert main(["flush", "--hub-url", hub.url, "--api-key", API_KEY]) == 0
    assert "1 file(s); 0 file(s) left" in capsys.readouterr().out
    assert_every_interval_once(hub, "killed-2", recorded)
    assert len(hub.measurements) >= before
    assert hub.runs[hub.by_key["killed-2"]]["status"] == "failed"
    assert list((tmp_path / "spool").glob("*")) == []
    # A second flush finds nothing left to send.
    assert main(["flush", "--hub-url", hub.url, "--api-key", API_KEY]) == 0
    assert "0 measurement(s) delivered from 0 file(s)" in capsys.readouterr().out
