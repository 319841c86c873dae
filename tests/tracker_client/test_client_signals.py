from __future__ import annotations

import os
import signal
import time


def test_a_child_killed_with_sigterm_delivers_everything_it_measured(hub, spawn):
    child = spawn(
        """
        with tracker:
            time.sleep(0.4)
            print("ready", flush=True)
            while True:
                time.sleep(0.01)
        """,
    )
    child.wait_ready()
    proc = child.proc
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM, "the default SIGTERM behaviour was not restored"
    measured = child.uuids()
    assert len(measured) >= 8
    assert set(hub.measurements) == measured
    hub.assert_contiguous()
    assert hub.finishes[-1][1]["status"] == "failed"


def test_ctrl_c_still_stops_training_after_the_flush(hub, spawn):
    child = spawn(
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
    child.wait_ready()
    proc = child.proc
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) != 0
    assert proc.stdout is not None
    assert "interrupted" in proc.stdout.read()
    assert set(hub.measurements) == child.uuids()
    assert hub.finishes


def test_a_forked_child_neither_sends_nor_finishes_the_parents_run(hub, spawn):
    child = spawn(
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
    child.wait_ready()
    proc = child.proc
    assert proc.wait(10) == 0
    assert set(hub.measurements) == child.uuids()
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
