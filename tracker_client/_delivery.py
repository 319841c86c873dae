"""The one delivery routine, shared by live sending and spool replay, and what it sends.

Owns the delivery order, written once in :func:`deliver`: measurements (in requests of at
most ``MAX_BATCH``), then the latest prediction, then the finish call. Owns
:class:`Outbox`, what one run still has to send, in the form of the spool's records too
(``measurements``/``prediction``/``finish`` lines, see ``_spool``). It creates no run,
keeps no schedule and writes no file: the Worker and the replay do, around it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._records import merge_measurements
from ._transport import RejectedError, Transport

MAX_BATCH = 1000

# on_rejected(record, error): the hub refused ``record`` (a spool-form record); keep it.
OnRejected = Callable[[dict[str, Any], RejectedError], None]
# on_answer(answer): the hub's answer to a measurements request.
OnAnswer = Callable[[dict[str, Any]], None]

_BODIES = ("prediction", "finish")  # after the measurements, in this order


class Outbox:
    """What one run still has to send: measurements in order, the latest prediction, finish.

    Thread-safe: the delivery thread takes requests from it while the tracker may still
    extend its last measurement (:meth:`merge_tail`) or a closing thread may forget it
    (:meth:`clear`: it is all in the spool) or move it to the rejected file
    (:meth:`drain_to`). Measurements of the request in flight are never merged into, and a
    request answered after the outbox was emptied removes nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._measurements: list[dict[str, Any]] = []
        self._bodies: dict[str, dict[str, Any] | None] = dict.fromkeys(_BODIES)
        self._in_flight = 0  # leading measurements taken by the request being sent
        self.oldest_at: float | None = None  # monotonic time the oldest measurement came

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> Outbox:
        """An outbox holding spool records (other kinds, such as ``header``, are skipped).

        A measurement whose uuid came before replaces the earlier one, in its place (the
        spool's form of a short last interval merged into the one before it).
        """
        outbox = cls()
        where: dict[Any, int] = {}
        for record in records:
            kind = record.get("kind")
            if kind == "measurements":
                for item in record.get("items", []):
                    key = item.get("uuid") if isinstance(item, dict) else None
                    if key is not None and key in where:
                        outbox._measurements[where[key]] = item
                        continue
                    if key is not None:
                        where[key] = len(outbox._measurements)
                    outbox.add("measurement", item)
            elif kind in _BODIES and isinstance(record.get("body"), dict):
                outbox.add(str(kind), record["body"])
        return outbox

    # ------------------------------------------------------------ filling

    def add(self, kind: str, body: dict[str, Any]) -> None:
        """Add a ``measurement``; or a ``prediction`` or ``finish`` (the latest one wins)."""
        with self._lock:
            if kind == "measurement":
                if not self._measurements:
                    self.oldest_at = time.monotonic()
                self._measurements.append(body)
            elif kind in _BODIES:
                self._bodies[kind] = body
            else:
                raise ValueError(f"unknown record kind {kind!r}")

    def merge_tail(self, tail: dict[str, Any]) -> dict[str, Any] | None:
        """Fold ``tail`` into the last measurement if that one is waiting and adjacent;
        the measurement so extended, or None."""
        with self._lock:
            if len(self._measurements) <= self._in_flight:
                return None
            last = self._measurements[-1]
            return last if merge_measurements(last, tail) else None

    def clear(self) -> None:
        """Forget everything (it is in the spool); a request answered later removes nothing."""
        self.drain_to(lambda record: None)

    # ------------------------------------------------------------ views

    def is_empty(self) -> bool:
        with self._lock:
            return not self._measurements and all(b is None for b in self._bodies.values())

    def measurement_count(self) -> int:
        with self._lock:
            return len(self._measurements)

    def has_body(self) -> bool:
        """A prediction or a finish call is waiting."""
        with self._lock:
            return any(b is not None for b in self._bodies.values())

    def next_request(self) -> tuple[str, Any] | None:
        """What to send next, in delivery order; None when nothing is left.

        ``("measurements", chunk)`` (the chunk is then in flight until
        :meth:`settle_chunk`), else ``("prediction", body)``, else ``("finish", body)``.
        """
        with self._lock:
            if self._measurements:
                chunk = self._measurements[:MAX_BATCH]
                self._in_flight = len(chunk)
                return "measurements", chunk
            for kind in _BODIES:
                body = self._bodies[kind]
                if body is not None:
                    return kind, body
            return None

    def settle_chunk(self, chunk: list[dict[str, Any]], done: bool) -> None:
        """The request for ``chunk`` ended: ``done`` (taken or refused) removes it."""
        with self._lock:
            self._in_flight = 0
            head = self._measurements[: len(chunk)]
            if (
                done
                and len(head) == len(chunk)
                and all(a is b for a, b in zip(head, chunk, strict=True))
            ):
                del self._measurements[: len(chunk)]
                if not self._measurements:
                    self.oldest_at = None

    def settle_body(self, kind: str, body: dict[str, Any]) -> None:
        """``body`` was taken or refused: drop it unless a newer one replaced it meanwhile."""
        with self._lock:
            if self._bodies[kind] is body:
                self._bodies[kind] = None

    # ------------------------------------------------------------ spooling

    def drain_to(self, write: Callable[[dict[str, Any]], None], **extra: Any) -> None:
        """Write what the outbox holds as spool records (delivery order) and forget it.

        ``extra`` keys go into each record (``rejected=...``). A write that fails leaves
        its part, and the parts after it, in the outbox, and raises.
        """
        with self._lock:
            if self._measurements:
                write({"kind": "measurements", "items": list(self._measurements), **extra})
                self._measurements.clear()
                self._in_flight = 0
                self.oldest_at = None
            for kind in _BODIES:
                body = self._bodies[kind]
                if body is not None:
                    write({"kind": kind, "body": body, **extra})
                    self._bodies[kind] = None


def deliver(
    transport: Transport,
    run_id: str,
    outbox: Outbox,
    on_rejected: OnRejected,
    on_answer: OnAnswer | None = None,
) -> int:
    """Send everything ``outbox`` holds to run ``run_id``; the number of measurements taken.

    Order: all measurements first, then the prediction, then the finish call; what is
    added meanwhile is sent in the same order (a finish never overtakes a measurement).
    An item leaves the outbox once the hub took it or refused it (a refusal goes to
    ``on_rejected``, and delivery goes on). A ``RetryableError`` (or any other error)
    propagates and leaves the unsent rest in the outbox.
    """
    sent = 0
    while (request := outbox.next_request()) is not None:
        kind, payload = request
        if kind == "measurements":
            done = False
            try:
                try:
                    answer: dict[str, Any] | None = transport.post_measurements(run_id, payload)
                except RejectedError as exc:
                    on_rejected({"kind": kind, "items": payload}, exc)
                    answer = None
                done = True
            finally:
                outbox.settle_chunk(payload, done)
            if answer is not None:
                sent += len(payload)
                if on_answer is not None and isinstance(answer, dict):
                    on_answer(answer)
            continue
        call = transport.prediction if kind == "prediction" else transport.finish
        try:
            call(run_id, payload)
        except RejectedError as exc:
            on_rejected({"kind": kind, "body": payload}, exc)
        outbox.settle_body(kind, payload)
    return sent
