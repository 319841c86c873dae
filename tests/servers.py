"""Real servers for the tests that need one: a free port, the hub under gunicorn, waiting
for it to listen, and stopping it with what it started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn_argv(port: int, *options: str) -> list[str]:
    """The hub under gunicorn on a loopback port, with more gunicorn options."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "emissions_hub.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        *options,
    ]


def wait_listening(
    proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60.0
) -> None:
    """Return once ``port`` accepts connections; fail with the server's log if ``proc``
    ends or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text(errors="replace")) from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a process a test started, and what it started when it leads its own process
    group (``start_new_session=True``): SIGTERM, then SIGKILL after 10 s."""
    try:
        own_group = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if own_group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    send(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=10)
