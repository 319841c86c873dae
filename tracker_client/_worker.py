"""Background delivery: a bounded queue drained by one thread that batches and retries.

The training thread only calls :meth:`Worker.submit`, which never blocks on the network:
``SimpleQueue.put`` is reentrant (safe from a signal handler) and, past ``max_queue``
items, the record goes straight to the disk spool instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ._spool import MAX_BATCH, SpoolFile, deliver_records
from ._transport import RejectedError, RetryableError, Transport

logger = logging.getLogger("tracker_client")

_STOP = object()

# First retry after 0.25-0.5 s, doubling up to 30 s (module-level so tests can shorten it).
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
# Never retry sooner than this, whatever Retry-After says (0 or a past date).
MIN_DELAY_S = 0.25
# A last interval shorter than this is merged into the previous one when still queued.
MIN_TAIL_S = 0.5

# Errors that mean the record itself cannot be sent as is (cannot be encoded, or the hub's
# answer makes no sense): retrying would fail the same way, so they count as refused.
_UNSENDABLE = (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError)


def json_safe(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` that ``json.dumps(allow_nan=False)`` accepts.

    numpy/torch scalars become Python numbers, arrays lists, unknown objects their str();
    NaN and infinities become None (JSON has no such numbers, and requests refuses them).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if _depth > 32:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, _depth + 1) for v in value]
    for convert in ("item", "tolist"):  # numpy scalars and arrays, torch tensors
        method = getattr(value, convert, None)
        if callable(method):
            try:
                converted = method()
            except Exception:  # noqa: S112 - try the next conversion
                continue
            if converted is not value:
                return json_safe(converted, _depth + 1)
    for number in (int, float):
        if number is int and not _is_integral(value):
            continue
        try:
            return json_safe(number(value), _depth + 1)
        except Exception:  # noqa: S112 - try the next conversion
            continue
    try:
        return str(value)
    except Exception:
        return repr(type(value))


def _is_integral(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Integral)


class _Guarded:
    """Wraps a transport so that any error is a RetryableError or a RejectedError.

    A bug or an odd object (numpy values in params, an answer without "id") must neither
    kill the delivery thread nor be retried forever.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def _call(self, name: str, *args: Any) -> dict[str, Any]:
        try:
            answer = getattr(self.inner, name)(*args)
        except (RetryableError, RejectedError):
            raise
        except _UNSENDABLE as exc:
            raise RejectedError(f"cannot send {name}: {type(exc).__name__}: {exc}", 0) from exc
        except Exception as exc:
            raise RetryableError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict):
            return {}
        return answer

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self._call("create_run", payload)
        if not answer.get("id"):
            raise RejectedError("the hub answered the create-run call without a run id", 0)
        return answer

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("post_measurements", run_id, items)

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("finish", run_id, body)

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("prediction", run_id, body)

    def close(self) -> None:
        self.inner.close()


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


class Worker:
    """Delivers a run's records in order: create run, measurements, prediction, finish."""

    def __init__(
        self,
        transport_factory: Callable[[], Transport | None],
        run_payload: dict[str, Any],
        spool: SpoolFile,
        max_queue: int = 10_000,
        spool_after_s: float = 30.0,
        backoff: Backoff | None = None,
        on_run: Callable[[dict[str, Any]], None] | None = None,
        before_create: Callable[[dict[str, Any]], None] | None = None,
        batch_wait_s: float = 0.0,
    ) -> None:
        self.transport_factory = transport_factory
        self.run_payload = run_payload
        self.spool = spool
        self.max_queue = max_queue
        self.spool_after_s = spool_after_s
        self.backoff = backoff or Backoff()
        self.on_run = on_run
        self.before_create = before_create
        # Gather measurements this long before posting: one request per few seconds keeps
        # the cost per sample low with a 1 s interval. Stop and finish are sent at once.
        self.batch_wait_s = batch_wait_s
        self._oldest_at: float | None = None
        self.run: dict[str, Any] | None = None
        self.rejected_all: RejectedError | None = None
        self.delivered = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: list[dict[str, Any]] = []
        self._prediction: dict[str, Any] | None = None
        self._finish: dict[str, Any] | None = None
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._abandoned = False
        self._state_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._transport: _Guarded | None = None
        self._stop_seen = False
        self.tail_merged = False  # the short last interval went into the previous one
        self._outage_since: float | None = None
        self._next_attempt = 0.0
        self.idle = threading.Event()

    # ------------------------------------------------------------ caller side

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tracker_client-worker", daemon=True)
        self._thread.start()

    def submit(self, kind: str, body: dict[str, Any]) -> None:
        """Queue a record; never blocks on the network, never raises.

        ``kind`` is measurement, prediction, finish, or tail: a last measurement too short
        to stand alone, merged into the previous measurement if that one is still queued.
        """
        try:
            body = json_safe(body)
            if self._queue.qsize() >= self.max_queue or self._abandoned:
                self._spool_record(kind, body)
                return
            self.idle.clear()
            self._queue.put((kind, body))
        except Exception:
            logger.exception("tracker_client: could not queue a %s record", kind)

    def close(self, timeout_s: float) -> bool:
        """Deliver what is queued within ``timeout_s``; spool the rest. True if all delivered."""
        self._deadline = time.monotonic() + max(0.0, timeout_s)
        self._closing.set()
        self._queue.put(_STOP)
        if self._thread is None or not self._thread.is_alive():
            # No delivery thread (it never started, or died): keep what is queued on disk.
            with self._state_lock:
                if not self._abandoned:
                    self._spool_everything()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout_s + 0.5)
        if self._thread is not None and self._thread.is_alive():
            # Stuck in a network call: take over and spool. A batch that did arrive
            # will be sent again later and dropped by the hub as a duplicate (same UUID).
            with self._state_lock:
                self._abandoned = True
                self._spool_everything()
            logger.warning("tracker_client: hub too slow at exit; kept the rest in the spool")
        all_sent = not self._pending and self._finish is None and not self.spool.has_undelivered()
        self.spool.close(delivered_all=all_sent)
        return all_sent

    def reset_after_fork(self) -> None:
        """In a forked child the thread is gone and the parent owns the data: start empty."""
        self._queue = queue.SimpleQueue()
        self._pending = []
        self._thread = None
        self._abandoned = True

    # ------------------------------------------------------------ worker side

    def _spool_record(self, kind: str, body: dict[str, Any]) -> None:
        try:
            if kind in ("measurement", "tail"):
                self.spool.append({"kind": "measurements", "items": [body]})
            else:
                self.spool.append({"kind": kind, "body": body})
        except Exception:
            logger.exception("tracker_client: could not write the spool")

    def _spool_everything(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                self._accept(item, merge=False)
        try:
            if self._pending:
                self.spool.append({"kind": "measurements", "items": self._pending})
                self._pending = []
            if self._prediction is not None:
                self.spool.append({"kind": "prediction", "body": self._prediction})
                self._prediction = None
            if self._finish is not None:
                self.spool.append({"kind": "finish", "body": self._finish})
                self._finish = None
        except Exception:
            logger.exception("tracker_client: could not write the spool")

    def _accept(self, item: tuple[str, dict[str, Any]], merge: bool = True) -> None:
        kind, body = item
        if kind == "tail":
            # Only the worker thread posts, and not while accepting: nothing is in flight.
            if merge and self._pending and _merge_measurements(self._pending[-1], body):
                self.tail_merged = True
                return
            kind = "measurement"
        if kind == "measurement":
            if not self._pending:
                self._oldest_at = time.monotonic()
            self._pending.append(body)
        elif kind == "prediction":
            self._prediction = body
        elif kind == "finish":
            self._finish = body

    def _run(self) -> None:
        try:
            first = True
            while True:
                try:
                    self._loop(first)
                    return
                except Exception:
                    # Never die while the tracker runs: later records would be lost.
                    logger.exception("tracker_client: delivery error; going on")
                first = False
                if self._abandoned or (
                    self._closing.is_set() and time.monotonic() >= self._deadline
                ):
                    with self._state_lock:
                        if not self._abandoned:
                            self._spool_everything()
                    return
                self._next_attempt = time.monotonic() + self.backoff.next_delay()
        finally:
            if self._transport is not None:
                with contextlib.suppress(Exception):
                    self._transport.close()

    def _loop(self, first: bool = True) -> None:
        if first:
            self._attempt()  # create the run now, so it shows on the hub from the start
        while True:
            stop_seen = self._stop_seen
            now = time.monotonic()
            has_work = bool(self._pending or self._prediction or self._finish)
            if stop_seen:
                wait = 0.0
            elif has_work:
                wait = max(0.0, self._next_attempt - now, self._batch_due_at() - now)
            else:
                wait = None
                self.idle.set()
            try:
                item = self._queue.get(timeout=wait) if wait != 0.0 else self._queue.get_nowait()
            except queue.Empty:
                item = None
            with self._state_lock:
                if self._abandoned:
                    return
                while item is not None:
                    if item is _STOP:
                        stop_seen = self._stop_seen = True
                    else:
                        self._accept(item)
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
            if self._closing.is_set() and time.monotonic() >= self._deadline:
                with self._state_lock:
                    if not self._abandoned:
                        self._spool_everything()
                return
            if time.monotonic() >= self._next_attempt and self._due(stop_seen):
                self._attempt()
            if stop_seen and not (self._pending or self._prediction or self._finish):
                return
            if stop_seen and self._next_attempt > time.monotonic():
                # Closing: wait for the retry only until the deadline, interruptibly.
                delay = min(self._next_attempt, self._deadline) - time.monotonic()
                if delay > 0:
                    time.sleep(min(delay, 0.05))

    def _batch_due_at(self) -> float:
        """When the pending measurements should be posted (0: now)."""
        if self._finish is not None or self._prediction is not None or self.run is None:
            return 0.0
        if self._oldest_at is None or len(self._pending) >= MAX_BATCH // 2:
            return 0.0
        return self._oldest_at + self.batch_wait_s

    def _due(self, stop_seen: bool) -> bool:
        return stop_seen or time.monotonic() >= self._batch_due_at()

    def _ensure_run(self) -> _Guarded | None:
        if self.before_create is not None:
            # Location first, so that even a spooled header carries it.
            hook, self.before_create = self.before_create, None
            hook(self.run_payload)
        if self._transport is None:
            inner = self.transport_factory()
            if inner is None:
                return None
            self._transport = _Guarded(inner)
        if self.run is None:
            self.run = self._transport.create_run(self.run_payload)
            if self.on_run is not None:
                try:
                    self.on_run(self.run)
                except Exception:
                    logger.exception("tracker_client: run callback failed")
        return self._transport

    def _attempt(self) -> None:
        """One delivery pass; on failure schedule the next one (or spool)."""
        if self.rejected_all is not None:
            with self._state_lock:
                self._spool_rejected_everything(self.rejected_all)
            return
        try:
            transport = self._ensure_run()
            if transport is None:
                # No hub configured: keep everything on disk for `flush`.
                with self._state_lock:
                    self._spool_everything()
                return
            assert self.run is not None
            run_id = str(self.run["id"])
            if self.spool.has_undelivered():
                records, end = self.spool.read_undelivered()
                sent = deliver_records(
                    transport,  # type: ignore[arg-type]
                    run_id,
                    records,
                    self._rejected,
                )
                self.delivered += sent
                self.spool.replayed_to = end
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                try:
                    answer = transport.post_measurements(run_id, batch)
                    self.delivered += len(batch)
                    if isinstance(answer.get("run"), dict) and self.on_run is not None:
                        try:
                            self.on_run(answer["run"])
                        except Exception:
                            logger.exception("tracker_client: run callback failed")
                except RejectedError as exc:
                    self._rejected({"kind": "measurements", "items": batch}, exc)
                with self._state_lock:
                    del self._pending[: len(batch)]
            if self._prediction is not None:
                try:
                    transport.prediction(run_id, self._prediction)
                except RejectedError as exc:
                    self._rejected({"kind": "prediction", "body": self._prediction}, exc)
                self._prediction = None
            if self._finish is not None and not self._pending:
                try:
                    transport.finish(run_id, self._finish)
                except RejectedError as exc:
                    self._rejected({"kind": "finish", "body": self._finish}, exc)
                self._finish = None
            self.backoff.reset()
            self._outage_since = None
            self._next_attempt = 0.0
        except RetryableError as exc:
            now = time.monotonic()
            if self._outage_since is None:
                self._outage_since = now
                logger.warning("tracker_client: hub unreachable (%s); will retry", exc)
            delay = self.backoff.next_delay(exc.retry_after)
            self._next_attempt = now + delay
            if now - self._outage_since >= self.spool_after_s or len(self._pending) > MAX_BATCH:
                # A long outage: keep memory bounded; the spool is replayed on recovery.
                with self._state_lock:
                    if self._pending:
                        self.spool.append({"kind": "measurements", "items": self._pending})
                        self._pending = []
        except RejectedError as exc:
            # The run itself was refused (wrong key, unknown project...): nothing will pass.
            self.rejected_all = exc
            logger.error(
                "tracker_client: %s. Measurements are kept in %s; fix the setting and run "
                "`python -m tracker_client flush --include-rejected`.",
                exc,
                self.spool.rejected_path,
            )
            with self._state_lock:
                self._spool_rejected_everything(exc)
        except Exception as exc:
            # A bug of ours: log it, keep the records, and try again later.
            logger.exception("tracker_client: delivery attempt failed: %s", exc)
            self._next_attempt = time.monotonic() + self.backoff.next_delay()

    def _rejected(self, record: dict[str, Any], exc: RejectedError) -> None:
        logger.error("tracker_client: %s; kept in %s", exc, self.spool.rejected_path)
        record["rejected"] = {"status": exc.status, "message": str(exc)}
        self.spool.append_rejected(record)

    def _spool_rejected_everything(self, exc: RejectedError) -> None:
        reason = {"status": exc.status, "message": str(exc)}
        if self._pending:
            self.spool.append_rejected(
                {"kind": "measurements", "items": self._pending, "rejected": reason}
            )
            self._pending = []
        for kind in ("prediction", "finish"):
            body = getattr(self, "_" + kind)
            if body is not None:
                self.spool.append_rejected({"kind": kind, "body": body, "rejected": reason})
                setattr(self, "_" + kind, None)

    def wait_idle(self, timeout_s: float) -> bool:
        """Test helper: wait until everything queued so far was handled."""
        return self.idle.wait(timeout_s)


def _merge_measurements(prev: dict[str, Any], tail: dict[str, Any]) -> bool:
    """Extend ``prev`` by the short interval ``tail`` that follows it; False if not adjacent."""
    if prev.get("end") != tail.get("start") or prev.get("rank") != tail.get("rank"):
        return False
    merged = dict(prev)
    try:
        d1, d2 = float(prev["duration_s"]), float(tail["duration_s"])
        total = d1 + d2
        if total <= 0:
            return False
        for comp in ("cpu", "gpu", "ram"):
            key = f"{comp}_energy_kwh"
            merged[key] = (prev.get(key) or 0.0) + (tail.get(key) or 0.0)
            for field, digits in (("power_w", 3), ("utilization_pct", 2)):
                key = f"{comp}_{field}"
                a, b = prev.get(key), tail.get(key)
                if a is None or b is None:
                    merged[key] = a if b is None else b
                else:
                    merged[key] = round((a * d1 + b * d2) / total, digits)
            if prev.get(f"{comp}_method") in (None, "none"):
                merged[f"{comp}_method"] = tail.get(f"{comp}_method")
        merged["end"] = tail["end"]
        merged["duration_s"] = round(total, 6)
    except (KeyError, TypeError, ValueError):
        return False
    prev.update(merged)
    return True
