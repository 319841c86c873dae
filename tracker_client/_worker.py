"""Background delivery of one tracker's records: an inbox drained by one thread.

Owns when and through what records go out: the intake (``submit``, which never blocks on
the network), the schedule (batch wait, capped exponential backoff honouring
Retry-After), creating the run first, retiring spool lines once the hub has what they
hold, keeping memory bounded (a long outage, no hub, a stuck hub at exit: the records are
left to the spool, and sent from it), what the hub refused, and closing within a
deadline. What is sent, and in which order, is ``_delivery.deliver``'s; records are made
by the Tracker (``_records``); HTTP is the Transport's; the file is the SpoolFile's.

One path for every record: :meth:`Worker.submit` first appends it to the spool (one
small write, see ``_spool``), then queues it (``deque.append`` and ``SimpleQueue.put``,
safe from a signal handler). A process killed at any moment leaves on disk every record
not yet acknowledged, and the next start or ``flush`` delivers it. Past ``max_queue``
waiting records a record is left on disk only, and sent from there.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._delivery import MAX_BATCH, Outbox, deliver
from ._records import RunRecord, json_safe
from ._spool import SpoolFile
from ._transport import GuardedTransport, RejectedError, RetryableError, Transport

logger = logging.getLogger("tracker_client")

# First retry after 0.25-0.5 s, doubling up to 30 s (module-level so tests can shorten it).
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
# Never retry sooner than this, whatever Retry-After says (0 or a past date).
MIN_DELAY_S = 0.25


class Backoff:
    """Capped exponential backoff with full jitter; Retry-After wins when given."""

    def __init__(
        self,
        base_s: float | None = None,
        cap_s: float | None = None,
        max_retry_after_s: float = 300.0,
    ) -> None:
        self.base_s = BACKOFF_BASE_S if base_s is None else base_s
        self.cap_s = BACKOFF_CAP_S if cap_s is None else cap_s
        self.max_retry_after_s = max_retry_after_s
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2 ** (self.failures - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None and math.isfinite(retry_after):
            # Retry-After: 0 (or a date in the past) must not make us hammer the hub.
            delay = max(min(retry_after, self.max_retry_after_s), delay)
        return max(MIN_DELAY_S, delay)

    def reset(self) -> None:
        self.failures = 0


class RetryClock:
    """When the next delivery pass may run, and since when the hub has been unreachable."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.next_at = 0.0  # monotonic time of the next allowed pass
        self.outage_since: float | None = None

    def ready(self, now: float) -> bool:
        return now >= self.next_at

    def succeeded(self) -> None:
        self.backoff.reset()
        self.outage_since = None
        self.next_at = 0.0

    def unreachable(self, now: float, retry_after: float | None = None) -> bool:
        """The hub could not be reached: back off. True when this starts an outage."""
        started = self.outage_since is None
        if started:
            self.outage_since = now
        self.next_at = now + self.backoff.next_delay(retry_after)
        return started

    def postpone(self, now: float) -> None:
        """A failure of ours, not the hub's: back off without counting an outage."""
        self.next_at = now + self.backoff.next_delay()

    def outage_s(self, now: float) -> float:
        return 0.0 if self.outage_since is None else now - self.outage_since


class Worker:
    """Delivers one run's records: creates the run, then measurements, prediction, finish.

    Its state: the ``_inbox`` of submitted records, the ``_outbox`` of what waits for
    delivery with the spool lines of its records (``_lines``), ``_on_disk_before`` (the
    pending spool lines before this offset are held on disk only, not in memory), the
    ``retry`` clock, ``run`` and ``run_id`` (the hub's latest answer about the run and the
    run's id, for others to read), ``refused`` (the hub refused the run itself: everything
    goes to the rejected file), the closing ``_deadline`` and ``_abandoned`` (the thread
    was given up on, or this is a forked child: records stay in the spool).
    """

    def __init__(
        self,
        transport_factory: Callable[[], Transport | None],
        run: RunRecord,
        spool: SpoolFile,
        max_queue: int = 10_000,
        spool_after_s: float = 30.0,
        backoff: Backoff | None = None,
        batch_wait_s: float = 0.0,
    ) -> None:
        self.transport_factory = transport_factory
        self.run_record = run
        self.spool = spool
        self.max_queue = max_queue
        self.spool_after_s = spool_after_s  # outage after which memory is left to the spool
        # Gather measurements this long before posting: one request per few seconds keeps
        # the cost per sample low with a 1 s interval. Stop and finish are sent at once.
        self.batch_wait_s = batch_wait_s
        self.retry = RetryClock(backoff or Backoff())
        self.run: dict[str, Any] | None = None
        self.run_id: str | None = None
        self.refused: RejectedError | None = None
        self._inbox: deque[tuple[str, dict[str, Any], int | None]] = deque()
        self._doorbell: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._outbox = Outbox()
        self._lines: list[int | None] = []  # spool lines of the records in the outbox
        self._on_disk_before = 0
        self._spilled = False  # a record was left on disk only (the inbox was full)
        self._lock = threading.RLock()  # moving records out of the inbox; abandoning
        self._deadline: float | None = None  # set by close()
        self._abandoned = False
        self._thread: threading.Thread | None = None
        self._transport: GuardedTransport | None = None

    # ------------------------------------------------------------ caller side

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tracker_client-worker", daemon=True)
        self._thread.start()

    def submit(self, kind: str, body: dict[str, Any]) -> None:
        """Queue a ``measurement``, ``prediction`` or ``finish``; never blocks, never raises."""
        try:
            self._enqueue(kind, json_safe(body))
        except Exception:
            logger.exception("tracker_client: could not queue a %s record", kind)

    def submit_tail(self, tail: dict[str, Any]) -> bool:
        """Queue a last measurement too short to stand alone; True if it was merged.

        Merged into the previous measurement when that one still waits for delivery and
        is adjacent (the caller then counts one measurement fewer); else queued as is.
        """
        try:
            record = json_safe(tail)
        except Exception:
            logger.exception("tracker_client: could not queue the last measurement")
            return False
        try:
            with self._lock:
                if not self._abandoned:
                    self._take_inbox()
                    merged = self._outbox.merge_tail(record)
                    if merged is not None:
                        # On disk as a new line with the same uuid: it replaces the first.
                        self._lines.append(self.spool.append(_spool_record("measurement", merged)))
                        self._doorbell.put(None)
                        return True
        except Exception:
            logger.exception("tracker_client: could not merge the last measurement")
        try:
            self._enqueue("measurement", record)
        except Exception:
            logger.exception("tracker_client: could not queue the last measurement")
        return False

    def close(self, timeout_s: float) -> bool:
        """Deliver what is queued within ``timeout_s``; the rest stays in the spool file.
        True if everything was delivered."""
        self._deadline = time.monotonic() + max(0.0, timeout_s)
        self._doorbell.put(None)
        thread = self._thread
        if thread is None or not thread.is_alive():
            # No delivery thread (it never started, or died): what is queued is on disk.
            with self._lock:
                if not self._abandoned:
                    self._leave_to_disk()
        else:
            thread.join(timeout_s + 0.5)
            if thread.is_alive():
                # Stuck in a network call: give up; the rest is on disk. A batch that did
                # arrive will be sent again later and dropped by the hub (same uuid).
                with self._lock:
                    self._abandoned = True
                    self._leave_to_disk()
                logger.warning("tracker_client: hub too slow at exit; kept the rest in the spool")
        all_sent = self._outbox.is_empty() and not self.spool.has_pending()
        self.spool.close(delivered_all=all_sent)
        return all_sent

    def reset_after_fork(self) -> None:
        """In a forked child the thread is gone and the parent owns the data: start empty."""
        self._inbox = deque()
        self._doorbell = queue.SimpleQueue()
        self._outbox = Outbox()
        self._lines = []
        self._on_disk_before = 0
        self._spilled = False
        self._lock = threading.RLock()
        self._thread = None
        self._abandoned = True

    # ------------------------------------------------------------ intake

    def _enqueue(self, kind: str, record: dict[str, Any]) -> None:
        line = self.spool.append(_spool_record(kind, record))  # on disk before it is queued
        if self._abandoned:
            return
        if len(self._inbox) >= self.max_queue:
            if line is None:
                logger.error("tracker_client: queue full and spool unwritable; a %s is lost", kind)
            self._spilled = True  # the worker sends it from the spool
        else:
            self._inbox.append((kind, record, line))
        self._doorbell.put(None)

    def _take_inbox(self) -> None:
        """Move submitted records into the outbox, in order (caller holds ``_lock``)."""
        while self._inbox:
            kind, record, line = self._inbox.popleft()
            self._outbox.add(kind, record)
            self._lines.append(line)

    def _leave_to_disk(self) -> None:
        """Forget what memory holds: it is all in the spool, and sent from there (caller
        holds ``_lock``). Kept in memory if a record could not be written."""
        self._take_inbox()
        if None in self._lines:
            return
        self._outbox.clear()
        self._lines = []
        self._on_disk_before = self.spool.end
        self._spilled = False

    def _retire_sent(self) -> None:
        """The outbox is empty: the hub has what its records' lines hold (caller holds
        ``_lock``)."""
        if self._outbox.is_empty():
            self.spool.retire(self._lines)
            self._lines = []

    def _from_disk(self) -> tuple[Outbox, list[int]]:
        """The records held on disk only, in an outbox, and their lines."""
        records, lines = self.spool.read(self._on_disk_before)
        return Outbox.from_records(records), lines

    def _refuse_everything(self, exc: RejectedError) -> None:
        """Everything waiting to the rejected file (caller holds ``_lock``)."""
        reason = {"status": exc.status, "message": str(exc)}
        if self._on_disk_before:
            backlog, lines = self._from_disk()
            backlog.drain_to(self.spool.append_rejected, rejected=reason)
            self.spool.retire(lines)
            self._on_disk_before = 0
        self._outbox.drain_to(self.spool.append_rejected, rejected=reason)
        self._retire_sent()

    def _rejected(self, record: dict[str, Any], exc: RejectedError) -> None:
        logger.error("tracker_client: %s; kept in %s", exc, self.spool.rejected_path)
        record["rejected"] = {"status": exc.status, "message": str(exc)}
        self.spool.append_rejected(record)

    def _on_answer(self, answer: dict[str, Any]) -> None:
        if isinstance(answer.get("run"), dict):
            self.run = answer["run"]

    # ------------------------------------------------------------ delivery

    def attempt(self) -> None:
        """One delivery pass over everything submitted so far (the thread runs it when due).

        Creates the run if needed, sends the spooled backlog, then the outbox. The hub's
        failures do not raise: they schedule the next pass, spool, or refuse.
        """
        with self._lock:
            self._take_inbox()
            if self._spilled:
                self._leave_to_disk()
        if self.refused is not None:
            with self._lock:
                self._refuse_everything(self.refused)
            return
        try:
            transport = self._connect()
            if transport is None:
                # No hub configured: everything stays on disk for `flush`.
                with self._lock:
                    self._leave_to_disk()
                return
            assert self.run_id is not None
            run_id = self.run_id
            if self._on_disk_before:
                # Older than anything in memory: the records left to the spool first.
                backlog, lines = self._from_disk()
                deliver(transport, run_id, backlog, self._rejected, self._on_answer)
                self.spool.retire(lines)
                self._on_disk_before = 0
            deliver(transport, run_id, self._outbox, self._rejected, self._on_answer)
            with self._lock:
                self._retire_sent()
            self.retry.succeeded()
        except RetryableError as exc:
            now = time.monotonic()
            if self.retry.unreachable(now, exc.retry_after):
                logger.warning("tracker_client: hub unreachable (%s); will retry", exc)
            if (
                self.retry.outage_s(now) >= self.spool_after_s
                or self._outbox.measurement_count() > MAX_BATCH
            ):
                # A long outage: keep memory bounded; sent from the spool on recovery.
                with self._lock:
                    self._leave_to_disk()
        except RejectedError as exc:
            # The run itself was refused (wrong key, unknown project...): nothing will pass.
            self.refused = exc
            logger.error(
                "tracker_client: %s. Measurements are kept in %s; fix the setting and run "
                "`python -m tracker_client flush --include-rejected`.",
                exc,
                self.spool.rejected_path,
            )
            with self._lock:
                self._refuse_everything(exc)
        except Exception as exc:
            # A bug of ours: log it, keep the records, and try again later.
            logger.exception("tracker_client: delivery attempt failed: %s", exc)
            self.retry.postpone(time.monotonic())

    def _connect(self) -> GuardedTransport | None:
        """The transport, with the run created on the hub; None without a hub."""
        payload = self.run_record.settle()  # location first, so that the spool's header has it
        self.spool.refresh_header()
        if self._transport is None:
            inner = self.transport_factory()
            if inner is None:
                return None
            self._transport = GuardedTransport(inner)
        if self.run_id is None:
            self.run = self._transport.create_run(payload)
            self.run_id = str(self.run["id"])
            self.spool.refresh_header()  # with the run's id
        return self._transport

    def _batch_due_at(self) -> float:
        """When the waiting measurements should be posted (0: now)."""
        outbox = self._outbox
        if outbox.has_body() or self.run_id is None:
            return 0.0
        oldest = outbox.oldest_at
        if oldest is None or outbox.measurement_count() >= MAX_BATCH // 2:
            return 0.0
        return oldest + self.batch_wait_s

    def _closing(self) -> bool:
        return self._deadline is not None

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    # ------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            first = True
            while True:
                try:
                    if first:
                        first = False
                        self.attempt()  # create the run now, so it shows on the hub at once
                    self._serve()
                    return
                except Exception:
                    # Never die while the tracker runs: later records would be lost.
                    logger.exception("tracker_client: delivery error; going on")
                if self._abandoned or self._past_deadline():
                    with self._lock:
                        if not self._abandoned:
                            self._leave_to_disk()
                    return
                self.retry.postpone(time.monotonic())
        finally:
            if self._transport is not None:
                with contextlib.suppress(Exception):
                    self._transport.close()

    def _serve(self) -> None:
        """Wait for records and deliver them when due, until closed and done (or abandoned)."""
        while True:
            now = time.monotonic()
            if self._closing():
                wait: float | None = 0.0
            elif not self._outbox.is_empty() or self._on_disk_before:
                wait = max(0.0, self.retry.next_at - now, self._batch_due_at() - now)
            else:
                wait = None
            with contextlib.suppress(queue.Empty):
                if wait == 0.0:
                    self._doorbell.get_nowait()
                else:
                    self._doorbell.get(timeout=wait)
            with self._lock:
                if self._abandoned:
                    return
                # Doorbell first: a record queued after this rings again.
                with contextlib.suppress(queue.Empty):
                    while True:
                        self._doorbell.get_nowait()
                self._take_inbox()
            closing = self._closing()
            if self._past_deadline():
                with self._lock:
                    if not self._abandoned:
                        self._leave_to_disk()
                return
            now = time.monotonic()
            if self.retry.ready(now) and (closing or now >= self._batch_due_at()):
                self.attempt()
            if closing and self._outbox.is_empty() and not self._on_disk_before:
                return
            if closing and self.retry.next_at > time.monotonic():
                # Closing: wait for the retry only until the deadline, interruptibly.
                assert self._deadline is not None
                delay = min(self.retry.next_at, self._deadline) - time.monotonic()
                if delay > 0:
                    time.sleep(min(delay, 0.05))


def _spool_record(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as a spool line: ``measurements`` (of one) or a ``prediction``/``finish``."""
    if kind == "measurement":
        return {"kind": "measurements", "items": [record]}
    if kind in ("prediction", "finish"):
        return {"kind": kind, "body": record}
    raise ValueError(f"unknown record kind {kind!r}")
