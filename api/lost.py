"""The lost-run sweep from the request path, so that it runs where no Celery beat does.

Celery beat runs ``api.tasks.mark_lost_runs`` every 5 minutes on a hub with a worker and
beat. The quick start (``make run``: SQLite, tasks eager, runserver) has neither, so the
start of every request asks whether a sweep is due: at most once a second per process
(one clock read otherwise) it tries ``cache.add`` of one key that lives
``RUN_LOST_SWEEP_S`` seconds, and the request that adds it runs the sweep, the same
conditional UPDATE, before going on. Processes sharing the cache (Redis) sweep once per
interval between them; with the per-process memory cache, once per process.

The bound: a run that stopped reporting at t is lost in every answer given after
t + RUN_LOST_AFTER_S + RUN_LOST_SWEEP_S + 1 s (the last sweep before a request began at
most RUN_LOST_SWEEP_S + 1 s earlier).
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

SWEEP_KEY = "api:lost-run-sweep"
CHECK_EVERY_S = 1.0  # how often one process asks the cache

_next_check = 0.0  # monotonic time at which this process next asks the cache


def sweep_if_due(sender: object = None, **kwargs: object) -> None:
    """``request_started`` receiver: mark silent runs lost if no one did for a while."""
    global _next_check
    interval = settings.RUN_LOST_SWEEP_S
    now = time.monotonic()
    if interval <= 0 or now < _next_check:
        return
    _next_check = now + min(CHECK_EVERY_S, interval)
    from api.tasks import mark_lost_runs

    try:
        if cache.add(SWEEP_KEY, 1, timeout=interval):
            mark_lost_runs()  # in this process, whatever the broker: one UPDATE
    except Exception as exc:  # the request goes on (an unreachable database answers 503)
        _next_check = now + interval  # and the log is not flooded meanwhile
        logger.warning("lost-run sweep skipped: %s: %s", type(exc).__name__, exc)
