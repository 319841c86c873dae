"""The disk spool: append-only JSON-lines files of what could not be delivered, and replay.

Owns the file format, the locking and the replay of files left behind. One file per run
and process: a ``header`` line (hub URL and the create-run payload, so a replay can
create the run if the hub never saw it), then ``measurements``, ``prediction`` and
``finish`` lines. A live tracker holds an exclusive ``flock`` on its file so a replay
elsewhere skips it. Requests the hub refused (4xx other than 408/429) go to
``<name>.rejected.jsonl`` and are replayed only when asked
(``python -m tracker_client flush --include-rejected``). Replaying sends everything in
the file, through the same ``_delivery.deliver`` as live sending; the hub drops
duplicates by measurement UUID, so a second replay is harmless.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._delivery import Outbox, deliver
from ._transport import RejectedError, RetryableError, Transport

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking, replay still works
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("tracker_client")

REJECTED_SUFFIX = ".rejected.jsonl"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "run"


class SpoolFile:
    """The spool file of one live tracker; created on first write, locked while open.

    ``header`` is the header line's content, or a function giving it, called at the
    first write (so that it carries the run's location once that is settled).
    """

    def __init__(
        self,
        directory: Path,
        stem: str,
        header: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    ) -> None:
        self.directory = directory
        self.path = directory / f"{_safe(stem)}.jsonl"
        self.rejected_path = directory / f"{_safe(stem)}{REJECTED_SUFFIX}"
        self._header = header
        self._fh: IO[str] | None = None
        self._lock = threading.RLock()
        self.replayed_to = 0  # byte offset up to which this process has redelivered

    @property
    def header(self) -> dict[str, Any]:
        header = self._header() if callable(self._header) else self._header
        return dict(header)

    def _open(self) -> IO[str]:
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while live
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            if fh.tell() == 0:
                fh.write(json.dumps({"kind": "header", **self.header}) + "\n")
                fh.flush()
                self.replayed_to = fh.tell()
            self._fh = fh
        return self._fh

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and fsync, so a kill right after loses nothing."""
        with self._lock:
            fh = self._open()
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def append_rejected(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            new = not self.rejected_path.exists()
            with open(self.rejected_path, "a", encoding="utf-8") as fh:
                if new:
                    fh.write(json.dumps({"kind": "header", **self.header}) + "\n")
                fh.write(json.dumps(record, separators=(",", ":")) + "\n")

    def mark_replayed(self, end: int) -> None:
        """Records up to byte ``end`` (from :meth:`read_undelivered`) reached the hub."""
        with self._lock:
            self.replayed_to = max(self.replayed_to, end)

    def has_undelivered(self) -> bool:
        with self._lock:
            return self._fh is not None and self._fh.tell() > self.replayed_to

    def read_undelivered(self) -> tuple[list[dict[str, Any]], int]:
        """Records appended since the last successful redelivery, and the end offset."""
        with self._lock:
            if self._fh is None:
                return [], 0
            self._fh.flush()
            end = self._fh.tell()
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.replayed_to)
                text = f.read(end - self.replayed_to)
            return _parse(text), end

    def close(self, delivered_all: bool) -> None:
        """Release the lock; remove the file when everything in it reached the hub."""
        with self._lock:
            if self._fh is None:
                return
            if delivered_all and not self.has_undelivered():
                with contextlib.suppress(OSError):
                    self.path.unlink()
            self._fh.close()
            self._fh = None


def _parse(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            # A process killed mid-write leaves a torn last line; everything before it counts.
            logger.warning("tracker_client: skipping a torn spool line")
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


@dataclass
class ReplayResult:
    files_done: int = 0
    files_left: int = 0
    measurements: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def replay_file(
    path: Path,
    transport_for: Callable[[str | None], Transport | None],
    include_rejected: bool = False,
) -> tuple[bool, int, int]:
    """Deliver one spool file. Returns (done, measurements sent, items rejected).

    The file is removed when done; a retryable failure leaves it in place for next time.
    """
    try:
        fh = open(path, "r+", encoding="utf-8")  # noqa: SIM115 - closed by `with fh` below
    except OSError:
        return False, 0, 0
    with fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False, 0, 0  # a live tracker owns it
        records = _parse(fh.read())
        if not path.exists():  # replayed and removed by someone else meanwhile
            return True, 0, 0
        header = next((r for r in records if r.get("kind") == "header"), None)
        if header is None or not isinstance(header.get("run"), dict):
            logger.warning("tracker_client: spool file %s has no header; left alone", path)
            return False, 0, 0
        transport = transport_for(header.get("hub_url"))
        if transport is None:
            return False, 0, 0
        is_rejected = path.name.endswith(REJECTED_SUFFIX)
        rejected_path = path if is_rejected else path.with_name(path.stem + REJECTED_SUFFIX)
        new_rejections: list[dict[str, Any]] = []
        n_rejected = 0

        def on_rejected(record: dict[str, Any], exc: RejectedError) -> None:
            nonlocal n_rejected
            n_rejected += len(record.get("items", [])) or 1
            record["rejected"] = {"status": exc.status, "message": str(exc)}
            new_rejections.append(record)
            logger.error("tracker_client: %s", exc)

        try:
            run = transport.create_run(header["run"])
            sent = deliver(transport, str(run["id"]), Outbox.from_records(records), on_rejected)
        except RetryableError as exc:
            logger.info("tracker_client: spool %s not delivered yet: %s", path.name, exc)
            return False, 0, 0
        except RejectedError as exc:
            if is_rejected:
                logger.error("tracker_client: %s still refused: %s", path.name, exc)
                return False, 0, 0
            on_rejected({"kind": "all", "records": records}, exc)
            sent = 0
        finally:
            transport.close()
        if new_rejections and not is_rejected:
            with open(rejected_path, "a", encoding="utf-8") as rf:
                if rf.tell() == 0:
                    rf.write(json.dumps(header) + "\n")
                for record in new_rejections:
                    if record.get("kind") == "all":
                        for r in record["records"]:
                            if r.get("kind") != "header":
                                rf.write(json.dumps({**r, "rejected": record["rejected"]}) + "\n")
                    else:
                        rf.write(json.dumps(record) + "\n")
        if is_rejected and new_rejections:
            return False, sent, n_rejected
        path.unlink(missing_ok=True)
        return True, sent, n_rejected


def replay_dir(
    directory: Path,
    transport_for: Callable[[str | None], Transport | None],
    include_rejected: bool = False,
    stop: threading.Event | None = None,
    skip: set[Path] | None = None,
) -> ReplayResult:
    """Replay every spool file in a directory (oldest first)."""
    result = ReplayResult()
    try:
        files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return result
    for path in files:
        if stop is not None and stop.is_set():
            break
        if skip and path in skip:
            continue
        if path.name.endswith(REJECTED_SUFFIX) and not include_rejected:
            continue
        try:
            done, sent, rejected = replay_file(path, transport_for, include_rejected)
        except Exception as exc:  # a bad file must not stop the others
            logger.exception("tracker_client: replay of %s failed", path)
            result.errors.append(f"{path.name}: {exc}")
            done, sent, rejected = False, 0, 0
        result.measurements += sent
        result.rejected += rejected
        if done:
            result.files_done += 1
        elif path.exists():
            result.files_left += 1
    return result
