"""The disk spool: every record of a live tracker, on disk before it is queued; and replay.

Owns the file format, the locking, retiring what the hub acknowledged, and the replay of
files left behind. One file per run and process: a ``header`` line (format version, hub
URL, the create-run payload, whether this process finishes the run, the hub's run id once
known), then ``measurements``, ``prediction`` and ``finish`` lines. A measurement whose
uuid comes again replaces the earlier one (a short last interval merged into it).

Write-ahead: the Worker appends every record (one ``write(2)`` of one line, no fsync)
before it queues it in memory. A killed process (SIGKILL, the out-of-memory killer) loses
nothing ``write`` returned for: the bytes are in the kernel's page cache, which only a
machine crash loses. So SIGKILL loses at most the interval being measured. A kill in the
middle of a write leaves a torn last line, which the replay skips.

Retiring: the lines of the records the hub took (or refused: they went to
``<name>.rejected.jsonl``) are retired. When none is pending the file is cut back to its
header (removed once the finish call was acknowledged); when more than ``COMPACT_BYTES``
of retired lines precede the first pending one, the pending rest is copied into a new
file renamed over the old. A file so holds what the hub has not acknowledged, plus at
most ``COMPACT_BYTES``.

Replay: a live tracker holds an exclusive ``flock`` on its file; a file whose lock is free
belongs to a process that ended. Replaying sends everything in it through the same
``_delivery.deliver`` as live sending; the hub drops duplicates by measurement uuid, so
lines sent before the process died, or a second replay, count once. A file that ends
without a finish call, left by the process that finishes its run, is of a process that
died (SIGKILL): the replay ends that run ``failed`` (at its last interval, the hub's rule).
Requests the hub refused (4xx other than 408/429) are replayed only when asked
(``python -m tracker_client flush --include-rejected``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._delivery import Outbox, deliver
from ._transport import RejectedError, RetryableError, Transport

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking, replay still works
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("tracker_client")

REJECTED_SUFFIX = ".rejected.jsonl"
# Retired bytes allowed before the first pending line (about 400 intervals).
COMPACT_BYTES = 256 * 1024


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "run"


def _line(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _same_file(fd: int, path: Path) -> bool:
    """``fd`` is still the file at ``path`` (not removed or replaced meanwhile)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _lock(fd: int, wait: bool = True) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _write_all(fd: int, data: bytes, size: int) -> None:
    """Append ``data`` to a file of ``size`` bytes; on failure cut back what was written."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


class SpoolFile:
    """The spool file of one live tracker: created on first write, locked while open.

    ``header`` is the header line's content, or a function giving it (called when the
    file is written anew, and by :meth:`refresh_header`). Lines are known by their
    logical start offset, which never changes when the file is cut or compacted.
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
        self._lock = threading.RLock()
        self._pid = os.getpid()  # a forked child never touches the parent's file
        self._fd: int | None = None
        self._base = 0  # logical offset of the file's first byte
        self._size = 0  # bytes in the file
        self._head: dict[str, Any] | None = None  # the header line the file starts with
        self._head_len = 0
        self._pending: dict[int, int] = {}  # start -> end of lines not retired, in order
        self._finished = False  # a finish record was written
        self._failing = False  # the last write failed (logged once)

    @property
    def header(self) -> dict[str, Any]:
        header = self._header() if callable(self._header) else self._header
        return dict(header)

    @property
    def end(self) -> int:
        """Logical offset after the last line written."""
        with self._lock:
            return self._base + self._size

    def has_pending(self) -> bool:
        """Some line written is not retired yet."""
        with self._lock:
            return bool(self._pending)

    # ------------------------------------------------------------ writing

    def append(self, record: Mapping[str, Any]) -> int | None:
        """Append one record as one line; its logical start, or None if it was not written.

        Never raises: a full or read-only disk is logged (once) and the record lives on in
        memory only.
        """
        with self._lock:
            if os.getpid() != self._pid:
                return None
            try:
                line = _line(record)
                if self._fd is None:
                    self._open()
                assert self._fd is not None
                _write_all(self._fd, line, self._size)
            except (OSError, TypeError, ValueError) as exc:
                if not self._failing:
                    logger.error("tracker_client: cannot write the spool %s: %s", self.path, exc)
                self._failing = True
                return None
            self._failing = False
            start = self._base + self._size
            self._size += len(line)
            self._pending[start] = start + len(line)
            if record.get("kind") == "finish":
                self._finished = True
            return start

    def append_rejected(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            new = not self.rejected_path.exists()
            with open(self.rejected_path, "a", encoding="utf-8") as fh:
                if new:
                    fh.write(json.dumps({"kind": "header", **self.header}) + "\n")
                fh.write(json.dumps(record, separators=(",", ":")) + "\n")

    def refresh_header(self) -> None:
        """Rewrite the file if its header is out of date (the location settled, the run id)."""
        with self._lock:
            if self._fd is not None and os.getpid() == self._pid and self.header != self._head:
                try:
                    self._cut(next(iter(self._pending), self._base + self._size))
                except OSError as exc:
                    logger.warning("tracker_client: could not rewrite the spool header: %s", exc)

    def _open(self) -> None:
        """Open (or create) the file and lock it; a new file gets its header first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            _lock(fd)
            if _same_file(fd, self.path):  # not removed by a replay before we locked it
                break
            os.close(fd)
        else:
            raise OSError(f"{self.path} keeps disappearing")
        self._fd = fd
        size = os.fstat(fd).st_size
        if size and size == self._size:
            return  # our own file, as we left it when we closed it
        end = self._base + self._size
        self._pending.clear()  # what an earlier file of ours held was replayed and removed
        head = self.header
        data = _line({"kind": "header", **head})
        os.ftruncate(fd, 0)
        _write_all(fd, data, 0)
        self._head, self._head_len = head, len(data)
        self._base, self._size = end - len(data), len(data)

    def _cut(self, keep_from: int) -> None:
        """Drop the lines before logical offset ``keep_from``; the header made current."""
        assert self._fd is not None
        end = self._base + self._size
        head = self.header
        if keep_from >= end and head == self._head:
            os.ftruncate(self._fd, self._head_len)
        else:
            # A new file, locked, renamed over the old: a kill meanwhile loses nothing.
            rest = os.pread(self._fd, end - keep_from, keep_from - self._base)
            data = _line({"kind": "header", **head})
            tmp = self.path.with_name(self.path.name + ".new")
            fd = os.open(tmp, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _lock(fd)
                _write_all(fd, data + rest, 0)
                os.replace(tmp, self.path)
            except BaseException:
                os.close(fd)
                raise
            os.close(self._fd)
            self._fd = fd
            self._head, self._head_len = head, len(data)
        self._base = keep_from - self._head_len
        self._size = self._head_len + max(0, end - keep_from)

    # ------------------------------------------------------------ retiring and reading

    def retire(self, starts: Iterable[int | None]) -> None:
        """The lines starting at ``starts`` reached the hub (or the rejected file)."""
        with self._lock:
            for start in starts:
                if start is not None:
                    self._pending.pop(start, None)
            if self._fd is None or os.getpid() != self._pid:
                return
            first = next(iter(self._pending), None)
            try:
                if first is None and self._finished:
                    # All acknowledged, the finish call too: nothing left to keep.
                    self.path.unlink(missing_ok=True)
                    self._release()
                    self._finished = False
                elif first is None:
                    if self._size > self._head_len:
                        self._cut(self._base + self._size)
                elif first - (self._base + self._head_len) > COMPACT_BYTES:
                    self._cut(first)
            except OSError as exc:
                logger.warning("tracker_client: could not compact the spool: %s", exc)

    def read(self, before: int) -> tuple[list[dict[str, Any]], list[int]]:
        """The pending records whose lines start before ``before``, and those starts."""
        with self._lock:
            spans = [(s, e) for s, e in self._pending.items() if s < before]
            if not spans or self._fd is None:
                return [], []
            low = spans[0][0]
            data = os.pread(self._fd, spans[-1][1] - low, low - self._base)
        records = _parse(b"".join(data[s - low : e - low] for s, e in spans).decode())
        return records, [s for s, _ in spans]

    def close(self, delivered_all: bool = True) -> None:
        """Release the lock; remove the file when nothing in it waits for the hub."""
        with self._lock:
            if self._fd is None or os.getpid() != self._pid:
                return
            if delivered_all and not self._pending:
                with contextlib.suppress(OSError):
                    self.path.unlink()
                self._release()
            else:
                os.close(self._fd)
                self._fd = None

    def _release(self) -> None:
        """Close a file that was removed; offsets go on from where it ended."""
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        self._base, self._size = self._base + self._size, 0


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


def _remove_if_unlocked(path: Path) -> None:
    """A compaction copy left by a process killed while making it: the file it was to
    replace is whole, so the copy goes (unless its writer is still at work)."""
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        if _lock(fh.fileno(), wait=False) and _same_file(fh.fileno(), path):
            path.unlink()


def _died(header: dict[str, Any], records: list[dict[str, Any]]) -> bool:
    """The file of the process that finishes its run ends without the finish call: the
    process was killed (a live or closing tracker holds the lock, and writes the finish
    before it lets go)."""
    return bool(header.get("finishes_run")) and not any(r.get("kind") == "finish" for r in records)


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
        if not _lock(fh.fileno(), wait=False):
            return False, 0, 0  # a live tracker owns it
        if not _same_file(fh.fileno(), path):  # replayed and removed, or rewritten, meanwhile
            return False, 0, 0
        records = _parse(fh.read())
        header = next((r for r in records if r.get("kind") == "header"), None)
        is_rejected = path.name.endswith(REJECTED_SUFFIX)
        died = header is not None and not is_rejected and _died(header, records)
        if not records or (header is not None and len(records) == 1 and not died):
            # Empty (a kill before the header was written), or a header alone: nothing to send.
            path.unlink(missing_ok=True)
            return True, 0, 0
        if header is None or not isinstance(header.get("run"), dict):
            logger.warning("tracker_client: spool file %s has no header; left alone", path)
            return False, 0, 0
        transport = transport_for(header.get("hub_url"))
        if transport is None:
            return False, 0, 0
        rejected_path = path if is_rejected else path.with_name(path.stem + REJECTED_SUFFIX)
        new_rejections: list[dict[str, Any]] = []
        n_rejected = 0

        def on_rejected(record: dict[str, Any], exc: RejectedError) -> None:
            nonlocal n_rejected
            n_rejected += len(record.get("items", [])) or 1
            record["rejected"] = {"status": exc.status, "message": str(exc)}
            new_rejections.append(record)
            logger.error("tracker_client: %s", exc)

        if died:
            logger.warning(
                "tracker_client: run %s: its process died without finishing it (%s); "
                "delivering what it measured and marking the run failed",
                header["run"].get("run_key"),
                path.name,
            )
            # The hub ends the run at its last interval.
            records.append({"kind": "finish", "body": {"status": "failed"}})
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
        for partial in directory.glob("*.jsonl.new"):
            _remove_if_unlocked(partial)
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
