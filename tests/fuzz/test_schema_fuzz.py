"""Schema fuzzing: every operation of the OpenAPI document, against a live hub.

schemathesis generates valid and invalid requests (its positive and negative modes) from
the document the hub serves at ``/api/v1/schema/`` and sends them over HTTP to
pytest-django's live server (PostgreSQL), with a real ingest key. Every answer must be no
5xx (``not_a_server_error``), have a status the document lists for its operation
(``status_code_conformance``) and a body that matches the documented one
(``response_schema_conformance``).

Reproducible: Hypothesis is derandomized. Bounded: at most ``MAX_EXAMPLES`` requests per
operation and mode, plus shrinking when a check fails (about 2 minutes in all on two
cores). Every operation is fuzzed even when an earlier one fails; the failures are
reported together. At the end the counts ("requests fuzzed, 5xx found") are printed
(``pytest -s``) and written to ``test-output/fuzz-summary.json``, with each 5xx, its
request and the last line of the hub's traceback.

schemathesis's own pytest integration (``from_fixture``/``parametrize``) is not used: its
4.32 release reads ``Node._nodeid``, which pytest 9.2 no longer has; the operations'
Hypothesis strategies (``APIOperation.as_strategy``) are its public API for plain tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api import ingest
from tests.cast import make_cast

MAX_EXAMPLES = 50
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
SUMMARY = Path(__file__).resolve().parents[2] / "test-output" / "fuzz-summary.json"


@dataclass
class Tally:
    """What the fuzzing sent and what came back."""

    requests: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    # The last line of the last traceback the hub logged, for the 5xx it answered.
    traceback: str = ""

    def note(self, case: schemathesis.Case, status: int, answer: bytes) -> None:
        self.requests += 1
        self.per_operation[case.operation.label] += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors.append(
                {
                    "operation": case.operation.label,
                    "status": status,
                    "query": case.query,
                    "body": repr(case.body)[:500],
                    "answer": answer[:300].decode("utf-8", "replace"),
                    "traceback": self.traceback,
                }
            )
        self.traceback = ""

    def summary(self, seconds: float) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "operations": len(self.per_operation),
            "server_errors": len(self.server_errors),
            "seconds": round(seconds, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "distinct_server_errors": sorted(
                {f"{e['operation']} -> {e['status']}: {e['traceback']}" for e in self.server_errors}
            ),
            "details": self.server_errors,
        }


class LastTraceback(logging.Handler):
    """Notes the exception of each error the live server logs (``django.request``)."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(level=logging.ERROR)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.tally.traceback = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:300]


def fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    tally: Tally,
    ids: dict[str, str],
    headers: dict[str, str],
) -> None:
    """Send up to MAX_EXAMPLES generated requests to one operation; raise on a failed check."""
    path_ids = {name: value for name, value in ids.items() if f"{{{name}}}" in operation.path}

    @given(case=operation.as_strategy(mode, path_parameters=path_ids))
    @SETTINGS
    def send(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        tally.note(case, response.status_code, response.content)
        case.validate_response(response, checks=CHECKS)

    send()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_operation_answers_as_documented(live_server: Any) -> None:
    cast = make_cast()
    run, _ = ingest.get_or_create_run(cast.project, {"run_key": "fuzz", "experiment": "fuzz"})
    # Every id in a path is a real one of the key's own, so that the generated bodies and
    # queries reach the code behind the lookup (a wrong id is a plain 404).
    ids = {
        "run_id": str(run.uuid),
        "project_id": str(cast.project.uuid),
        "org_id": str(cast.org.uuid),
        "experiment_id": str(run.experiment.uuid),
    }
    # The same ingest key both ways: the native API reads the Bearer header, the CodeCarbon
    # endpoints x-api-token first. No generated key headers, which would only be refused.
    headers = {"Authorization": f"Bearer {cast.ingest_key}", "x-api-token": cast.ingest_key}
    config = schemathesis.Config.from_dict(
        {"base-url": live_server.url, "generation": {"with-security-parameters": False}}
    )
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/", config=config)

    tally = Tally()
    handler = LastTraceback(tally)
    logging.getLogger("django.request").addHandler(handler)
    started = time.monotonic()
    failures = []
    labels = []
    try:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            labels.append(operation.label)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz(operation, mode, tally, ids, headers)
                except Unsatisfiable:
                    # Nothing of the operation can be made invalid (no parameter, no body).
                    assert mode is GenerationMode.NEGATIVE, operation.label
                except (AssertionError, BaseExceptionGroup) as exc:
                    # A failed check (one, or a group): noted, and the fuzzing goes on.
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    finally:
        logging.getLogger("django.request").removeHandler(handler)

    summary = tally.summary(time.monotonic() - started)
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    print(
        f"\nschema fuzzing: {summary['requests']} requests fuzzed over "
        f"{summary['operations']} operations, "
        f"{summary['server_errors']} 5xx found in {summary['seconds']} s "
        f"(statuses {summary['statuses']}; details in {SUMMARY})"
    )
    for line in summary["distinct_server_errors"]:
        print(f"  5xx: {line}")
    # Every operation was fuzzed, the two that ingest among them.
    assert set(tally.per_operation) == set(labels)
    assert {"POST /api/v1/runs/{run_id}/measurements", "POST /api/codecarbon/emissions"} <= set(
        labels
    )
    assert not failures, "\n\n".join(failures)
