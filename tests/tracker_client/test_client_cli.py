from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ehi_test_key"


def wrapper(hub, *command: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tracker_client",
        "run",
        "--experiment",
        "wrapped",
        "--hub-url",
        hub.url,
        "--api-key",
        API_KEY,
        "--country",
        "FRA",
        "--interval-s",
        "0.1",
        "--",
        *command,
    ]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_the_wrapper_returns_the_childs_exit_code_and_marks_the_run_failed(hub):
    # Long enough for two 0.1 s intervals even when the tracker's start is slow (a loaded
    # machine: the sensors are built after the child started).
    cmd = wrapper(hub, sys.executable, "-c", "import sys, time; time.sleep(1.0); sys.exit(3)")
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=20)
    assert proc.returncode == 3, proc.stderr
    assert hub.finishes[-1][1]["status"] == "failed"
    assert len(hub.measurements) >= 2
    hub.assert_contiguous()
    assert "Emissions Hub: run" in proc.stderr


def test_a_successful_command_marks_the_run_finished(hub):
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"
    proc = subprocess.run(
        wrapper(hub, sys.executable, "-c", burn),
        env=env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    assert hub.finishes[-1][1]["status"] == "finished"
    assert sum(m["cpu_energy_kwh"] for m in hub.measurements.values()) > 0
    assert hub.items()[0]["cpu_method"] in {"rapl", "tdp_model"}


def test_sigterm_is_passed_to_the_child_and_its_fate_returned(hub):
    proc = subprocess.Popen(
        wrapper(hub, sys.executable, "-c", "import time; time.sleep(30)"),
        env=env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 128 + signal.SIGTERM
    assert hub.finishes[-1][1]["status"] == "failed"


def test_a_missing_command_is_reported(hub):
    proc = subprocess.run(
        wrapper(hub, "no-such-command-xyz"), env=env(), capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 127 and "cannot start" in proc.stderr


def test_the_console_script_entry_point_prints_its_version():
    proc = subprocess.run(
        [sys.executable, "-m", "tracker_client", "--version"],
        env=env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.stdout.strip().startswith("tracker_client 0.")


def test_a_short_command_sampled_only_after_it_exits_still_counts_its_cpu_time(hub):
    # With a 30 s interval the only sample comes after the child has exited and been
    # reaped: its CPU time must be read from the wrapper's children times, not lost.
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.5: pass"
    cmd = wrapper(hub, sys.executable, "-c", burn)
    cmd[cmd.index("--interval-s") + 1] = "30"
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    items = list(hub.measurements.values())
    assert len(items) == 1
    # At least 0.5 CPU-seconds at the smallest TDP share the model can give (> 1 W).
    assert items[0]["cpu_energy_kwh"] * 3.6e6 > 0.5
