from __future__ import annotations
from collections import Counter
from datetime import date
from typing import Any
from tests.cast import Cast
from tests.reports import reconcile_data
from tests.reports.reconcile_data import post_random_data, Ledger

def test_stats(cast: Cast, django_capture_on_commit_callbacks: Any, monkeypatch) -> None:
    seen = Counter()
    for name in ("equal", "same", "shows", "shows_duration"):
        orig = getattr(Ledger, name)
        def wrap(self, where, *a, _o=orig, _n=name, **k):
            seen[" ".join(where.split()[:3]) + " :" + _n] += 1
            return _o(self, where, *a, **k)
        monkeypatch.setattr(Ledger, name, wrap)
    posted = post_random_data(cast, 29, date(2026, 10, 5), days=6)
    from tests.reports.test_reconciliation import Reconciliation
    rec = Reconciliation(cast.org, cast.client_for("viewer"), cast.client_for("member"), posted.first_day, posted.last_day, django_capture_on_commit_callbacks, sample=12)
    led = rec.run()
    for k, v in sorted(seen.items()):
        print(v, k)
    print(led.checks, led.problems)
    from api.models import Run
    print(sorted(set(Run.objects.filter(project__organisation=cast.org).values_list("zone", flat=True))))
