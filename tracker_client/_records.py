"""What a Tracker produces for delivery: JSON-safe values, measurements, the run to create.

Owns ``json_safe`` (applied once per record, when the record enters the Worker),
``merge_measurements`` (a short last interval folded into the one before it) with its
threshold ``MIN_TAIL_S``, and ``RunRecord``, the create-run payload whose location is
settled once, off the training thread. Nothing here sends or stores anything.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("tracker_client")

# A last interval shorter than this is merged into the previous one when still queued;
# epoch_end() does not cut an interval shorter than this (module-level for tests).
MIN_TAIL_S = 0.5


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
        if number is int and not isinstance(value, numbers.Integral):
            continue
        try:
            return json_safe(number(value), _depth + 1)
        except Exception:  # noqa: S112 - try the next conversion
            continue
    try:
        return str(value)
    except Exception:
        return repr(type(value))


def merge_measurements(prev: dict[str, Any], tail: dict[str, Any]) -> bool:
    """Extend ``prev`` by the short interval ``tail`` that follows it; False if not adjacent.

    Energies add up, powers and utilisations are duration-weighted; ``prev`` keeps its
    uuid and seq. ``prev`` is changed only when the merge succeeds.
    """
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


class RunRecord:
    """The create-run payload of one tracker, made JSON-safe once.

    Its location (country, region, cloud provider and region) is settled by
    :meth:`settle`, at most once, by the delivery thread before it creates the run, so
    that probing cloud metadata never delays ``start()``. Until then :attr:`payload` holds
    the location as configured (possibly unknown). The payload dict is replaced, never
    changed in place, so another thread may read (and spool) it meanwhile.
    """

    def __init__(self, payload: Mapping[str, Any], detect_cloud: bool = False) -> None:
        self.payload: dict[str, Any] = json_safe(payload)
        self.detect_cloud = detect_cloud
        self._settled = False
        self._lock = threading.Lock()

    def settle(self) -> dict[str, Any]:
        """Fill in the location (once; may probe cloud metadata for 0.3 s); the payload."""
        with self._lock:
            if not self._settled:
                self._settled = True  # an error is logged once, not retried every pass
                try:
                    from ._location import resolve_location

                    location = resolve_location(self.payload, self.detect_cloud)
                    self.payload = {**self.payload, **location}  # str or None
                except Exception:
                    logger.exception("tracker_client: could not settle the run location")
        return self.payload
