"""The celery beat entry of the quarterly reports (merged into CELERY_BEAT_SCHEDULE).

Daily at 02:00 UTC the task checks that last quarter's report exists for every
organisation and creates the missing ones, so a quarter closes, and the next night its
reports are generated and e-mailed; a missed night is caught up the night after.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "reports-quarterly": {
        "task": "reports.tasks.schedule_quarterly_reports",
        "schedule": crontab(hour=2, minute=0),
    },
}
