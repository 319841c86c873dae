"""``emissions-tracker`` / ``python -m tracker_client``: wrap a command, or flush the spool."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from . import __version__

_OPTIONS = [
    ("--experiment", str, "experiment name (EMISSIONS_HUB_EXPERIMENT)"),
    ("--hub-url", str, "hub base URL (EMISSIONS_HUB_URL)"),
    ("--api-key", str, "ingest key ehi_... (EMISSIONS_HUB_API_KEY)"),
    ("--run-key", str, "run key shared by all ranks (default: SLURM/torchelastic id)"),
    ("--name", str, "run label"),
    ("--country", str, "ISO 3166 country code, e.g. FRA"),
    ("--region", str, "region within the country"),
    ("--cloud-provider", str, "aws, gcp, azure..."),
    ("--cloud-region", str, "provider region, e.g. eu-west-3"),
    ("--pue", float, "power usage effectiveness of the data centre"),
    ("--interval-s", float, "sampling interval in seconds (default 10)"),
    ("--epochs-total", int, "number of epochs, for the prediction"),
    ("--measure-mode", str, "process (the command's process tree) or machine"),
    ("--summary-every-min", float, "print a summary every N minutes"),
]


def _add_options(parser: argparse.ArgumentParser) -> None:
    for flag, kind, text in _OPTIONS:
        parser.add_argument(flag, type=kind, default=None, help=text)
    parser.add_argument(
        "--tag", action="append", dest="tags", default=None, help="tag (repeatable)"
    )


def _setup_logging() -> None:
    log = logging.getLogger("tracker_client")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _run(args: argparse.Namespace) -> int:
    from ._tracker import Tracker

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("emissions-tracker run: give a command after --", file=sys.stderr)
        return 2
    options: dict[str, Any] = {
        flag.lstrip("-").replace("-", "_"): getattr(args, flag.lstrip("-").replace("-", "_"))
        for flag, _, _ in _OPTIONS
    }
    options["tags"] = args.tags
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"emissions-tracker run: cannot start {command[0]}: {exc}", file=sys.stderr)
        return 127
    tracker = Tracker(pid=child.pid, handle_signals=False, **options)
    tracker.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _in_terminal_foreground():
            return  # the terminal sent Ctrl-C to the child's process group already
        with contextlib.suppress(OSError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    tracker.stop("finished" if rc == 0 else "failed")
    return rc if rc >= 0 else 128 - rc


def _in_terminal_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def _flush(args: argparse.Namespace) -> int:
    from ._config import default_spool_dir, load_config
    from ._spool import replay_dir
    from ._transport import HttpTransport, Transport

    config = load_config(
        {"hub_url": args.hub_url, "api_key": args.api_key, "spool_dir": args.spool_dir}
    )
    directory = default_spool_dir(config)

    def transport_for(hub_url: str | None) -> Transport | None:
        url = config.hub_url or hub_url
        if not url:
            print("no hub URL: set EMISSIONS_HUB_URL or --hub-url", file=sys.stderr)
            return None
        return HttpTransport(url, config.api_key, config.timeout_s)

    result = replay_dir(Path(directory), transport_for, include_rejected=args.include_rejected)
    print(
        f"flushed {directory}: {result.measurements} measurement(s) delivered from "
        f"{result.files_done} file(s); {result.files_left} file(s) left; "
        f"{result.rejected} item(s) refused by the hub"
    )
    return 0 if result.files_left == 0 and not result.errors else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``emissions-tracker`` console script."""
    parser = argparse.ArgumentParser(prog="emissions-tracker", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tracker_client {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run a command and track its process tree")
    _add_options(run)
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- command and its arguments")
    flush = sub.add_parser("flush", help="deliver what the spool holds")
    flush.add_argument("--hub-url", default=None)
    flush.add_argument("--api-key", default=None)
    flush.add_argument("--spool-dir", default=None)
    flush.add_argument("--include-rejected", action="store_true", help="retry refused batches too")
    args = parser.parse_args(argv)
    _setup_logging()
    if args.verb == "run":
        return _run(args)
    return _flush(args)
