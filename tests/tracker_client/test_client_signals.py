from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ehi_test_key"

CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
from tracker_client import Tracker

record = open({record!r}, "a")
tracker = Tracker(experiment="child", hub_url={url!r}, api_key={key!r}, country="FRA",
                  interval_s=0.05, handle_signals=True, flush_timeout_s=3)
original = tracker._sample

def recording_sample():
    m = original()
    if m is not None:  # the child's own record of what it measured
        record.write(json.dumps({{"uuid": m["uuid"], "seq": m["seq"]}}) + "\\n")
        record.flush()
    return m

tracker._sample = recording_sample
{body}
"""


def spawn(tmp_path: Path, hub, body: str) -> tuple[subprocess.Popen, Path]:
    record = tmp_path / "record.jsonl"
    script = tmp_path / "child.py"
    script.write_text(
        CHILD.format(
            root=str(ROOT), record=str(record), url=hub.url, key=API_KEY, body=textwrap.dedent(body)
        )
    )
    env = {**os.environ, "EMISSIONS_HUB_HANDLE_SIGNALS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )
    return proc, record


def wait_ready(proc: subprocess.Popen) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


def recorded(record: Path) -> set[str]:
    return {json.loads(line)["uuid"] for line in record.read_text().splitlines()}


def test_a_child_killed_with_sigterm_delivers_everything_it_measured(hub, tmp_path):
    proc, record = spawn(
        tmp_path,
        hub,
        """
        with tracker:
            time.sleep(0.4)
            print("ready", flush=True)
            while True:
                time.sleep(0.01)
        """,
    )
    wait_ready(proc)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM, "the default SIGTERM behaviour was not restored"
    measured = recorded(record)
    assert len(measured) >= 8
    assert set(hub.measurements) == measured
    hub.assert_contiguous()
    assert hub.finishes[-1][1]["status"] == "failed"


def test_ctrl_c_still_stops_training_after_the_flush(hub, tmp_path):
    proc, record = spawn(
        tmp_path,
        hub,
        """
        tracker.start()
        print("ready", flush=True)
        try:
            while True:
                time.sleep(0.01)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
        """,
    )
    wait_ready(proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) != 0
    assert proc.stdout is not None
    assert "interrupted" in proc.stdout.read()
    assert set(hub.measurements) == recorded(record)
    assert hub.finishes


def test_a_forked_child_neither_sends_nor_finishes_the_parents_run(hub, tmp_path):
    proc, record = spawn(
        tmp_path,
        hub,
        """
        tracker.start()
        time.sleep(0.2)
        pid = os.fork()
        if pid == 0:
            tracker.epoch_end()
            time.sleep(0.2)
            sys.exit(0)  # atexit runs here: it must not flush the parent's data
        os.waitpid(pid, 0)
        time.sleep(0.1)
        tracker.stop()
        print("ready", flush=True)
        """,
    )
    wait_ready(proc)
    assert proc.wait(10) == 0
    assert set(hub.measurements) == recorded(record)
    hub.assert_contiguous()
    assert len(hub.finishes) == 1


def test_signal_handlers_chain_to_the_previous_ones_and_are_restored(sensors_factory):
    from tracker_client import Tracker

    calls = []

    def previous(signum, frame):
        calls.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    try:
        tracker = Tracker(
            experiment="x", sensors=sensors_factory(), handle_signals=True, summary=False
        )
        tracker.start()
        assert signal.getsignal(signal.SIGTERM) == tracker._on_signal
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert calls == [signal.SIGTERM] and tracker._stopped
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, old)
