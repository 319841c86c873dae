"""The measurement schema: what a measurement is, its bounds and its messages, declared once.

``MeasurementIn`` is a msgspec Struct: the native API's JSON is parsed and checked against it
in one step (:func:`decode_batch`), the foreign paths (CodeCarbon endpoints, file importers)
build the same typed value from their own fields (:func:`measurement`), and the OpenAPI
schema of the measurement endpoint is generated from it (:func:`openapi_components`), so the
documented rules and the enforced ones cannot differ.

msgspec was chosen by measuring (``bench/ingest/schema.py``): it parses and validates a
batch in about a third of the time pydantic v2 takes, and faster than the standard
library's ``json.loads`` alone.

A refused batch gets every problem of every item, with the field and a message a person can
act on. Those messages are derived from the constraints declared here (:func:`explain`), not
written beside them.
"""

from __future__ import annotations

import json
import sys
import uuid as uuidlib
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

import msgspec
from django.conf import settings
from django.utils import timezone
from msgspec import Meta
from msgspec import inspect as mi

COMPONENTS = ("cpu", "gpu", "ram")
# One interval of one rank above 100 kWh (e.g. 10 kW for 10 h) is certainly an error.
MAX_INTERVAL_KWH = 100.0
MAX_POWER_W = 100_000.0
MAX_UTILISATION_PCT = 100_000.0
# One interval sent by a live client (the native API, CodeCarbon's /emissions) lasts at most
# a day: clients send every few seconds or minutes, and each hour an interval spans is a row
# of the hourly aggregates. A row of another tool's file may cover a whole run, up to a year.
MAX_INTERVAL_S = 86400.0
MAX_DURATION_S = 366 * 86400.0
# Every timestamp the hub accepts, on every path, lies from EARLIEST to API_MAX_FUTURE_S
# after the hub's clock (:func:`time_problem`).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# The largest number a JSON value (params, metrics, hardware) may hold: the largest float,
# which every reader of the stored JSON can handle (:func:`number_problem`).
LARGEST = sys.float_info.max

# How each component's energy was obtained (the choices of ``api.models.METHOD_CHOICES``).
Method = Literal["rapl", "nvml_energy", "nvml_power", "tdp_model", "constant", "imported", "none"]
METHODS = frozenset(get_args(Method))

Energy = Annotated[float, Meta(ge=0.0, le=MAX_INTERVAL_KWH, description="kWh in this interval")]
Power = Annotated[float, Meta(ge=0.0, le=MAX_POWER_W, description="average W")]
Utilization = Annotated[float, Meta(ge=0.0, le=MAX_UTILISATION_PCT, description="percent")]


# PostgreSQL text cannot hold U+0000 (SQLite can): refused on both, with one message.
NUL_MESSAGE = "Text in the body contains a NUL character (\\u0000), which the hub does not store."


class Invalid(ValueError):
    """Bad input: a message for people and, optionally, per-field details."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class MeasurementIn(msgspec.Struct, kw_only=True):
    """One interval of one process (rank) on one node, as clients send it."""

    # The longest interval end - start may span (``duration_s`` has the same bound).
    max_span_s: ClassVar[float] = MAX_INTERVAL_S

    uuid: Annotated[
        uuidlib.UUID,
        Meta(
            description="client id; makes resending harmless",
            extra={"message": "is required and must be a UUID (it makes resending harmless)"},
        ),
    ]
    start: datetime
    end: datetime
    duration_s: Annotated[float, Meta(ge=0.0, le=MAX_INTERVAL_S)] | None = None
    seq: Annotated[int, Meta(ge=0, le=2**62)] = 0
    node: Annotated[str, Meta(max_length=200)] = ""
    rank: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    cpu_energy_kwh: Energy = 0.0
    gpu_energy_kwh: Energy = 0.0
    ram_energy_kwh: Energy = 0.0
    cpu_power_w: Power | None = None
    gpu_power_w: Power | None = None
    ram_power_w: Power | None = None
    cpu_utilization_pct: Utilization | None = None
    gpu_utilization_pct: Utilization | None = None
    ram_utilization_pct: Utilization | None = None
    cpu_method: Method | None = None
    gpu_method: Method | None = None
    ram_method: Method | None = None
    gpu_count: Annotated[int, Meta(ge=0, le=4096)] | None = None
    epoch: Annotated[int, Meta(ge=0, le=10_000_000)] | None = None

    @property
    def energy_kwh(self) -> float:
        return self.cpu_energy_kwh + self.gpu_energy_kwh + self.ram_energy_kwh


class ForeignMeasurement(MeasurementIn, kw_only=True):
    """A measurement from another tool, with what that tool computed itself (kept beside the
    hub's figure, never used for it). Not accepted from native clients."""

    max_span_s: ClassVar[float] = MAX_DURATION_S

    duration_s: Annotated[float, Meta(ge=0.0, le=MAX_DURATION_S)] | None = None
    client_intensity_g_per_kwh: float | None = None
    client_emissions_kg: float | None = None


class Batch(msgspec.Struct):
    """The body of ``POST /api/v1/runs/{id}/measurements``."""

    measurements: list[MeasurementIn]


# The highest PUE a foreign tool may state (above it is not a data-centre PUE).
MAX_SOURCE_PUE = 10.0
Kg = Annotated[float, Meta(ge=0.0, le=1e6)]


class CodeCarbonEmission(msgspec.Struct, kw_only=True):
    """The body of CodeCarbon's ``POST /emissions``: one interval of a run (docs/codecarbon.md).

    Energies are checked as the measurement's, once CodeCarbon's PUE is divided out."""

    run_id: Annotated[
        uuidlib.UUID, Meta(extra={"message": "must be the id that POST /runs answered"})
    ]
    timestamp: datetime
    duration: Annotated[
        float, Meta(ge=0.0, le=MAX_INTERVAL_S, extra={"missing": "is required, in seconds"})
    ]
    emissions_sum: Kg | None = None
    emissions_rate: Kg | None = None
    cpu_power: Power | None = None
    gpu_power: Power | None = None
    ram_power: Power | None = None
    cpu_energy: float | None = None
    gpu_energy: float | None = None
    ram_energy: float | None = None
    energy_consumed: Annotated[float, Meta(ge=0.0, le=10 * MAX_INTERVAL_KWH)] | None = None
    cpu_utilization_percent: Utilization | None = None
    gpu_utilization_percent: Utilization | None = None
    ram_utilization_percent: Utilization | None = None
    wue: Annotated[float, Meta(ge=0.0, le=1000.0)] | None = None
    # A hub extension of CodeCarbon's call: the PUE the tracker applied.
    pue: Annotated[float, Meta(gt=0.0, le=MAX_SOURCE_PUE)] | None = None


_batch_decoder = msgspec.json.Decoder(Batch)
_plain_decoder = msgspec.json.Decoder()


def _fields(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f for f in mi.type_info(kind).fields}  # type: ignore[attr-defined]


class CodeCarbonRun(msgspec.Struct, kw_only=True):
    """The fields of CodeCarbon's ``POST /runs`` body that the hub keeps, with their types
    and bounds (its texts are kept as sent, cut to their columns, by ``api.codecarbon``)."""

    timestamp: datetime | None = None
    experiment_id: str | None = None
    os: str | None = None
    python_version: str | None = None
    codecarbon_version: str | None = None
    tracking_mode: str | None = None
    cpu_model: str | None = None
    gpu_model: str | None = None
    provider: str | None = None
    region: str | None = None
    longitude: Annotated[float, Meta(ge=-180.0, le=180.0)] | None = None
    latitude: Annotated[float, Meta(ge=-90.0, le=90.0)] | None = None
    cpu_count: Annotated[float, Meta(ge=0.0, le=100_000.0)] | None = None
    gpu_count: Annotated[float, Meta(ge=0.0, le=100_000.0)] | None = None
    ram_total_size: Annotated[float, Meta(ge=0.0, le=1_000_000.0, description="GB")] | None = None
    # A hub extension of CodeCarbon's call: the PUE the tracker applies.
    pue: Annotated[float, Meta(gt=0.0, le=MAX_SOURCE_PUE)] | None = None


class CodeCarbonExperiment(msgspec.Struct, kw_only=True):
    """The fields of the CodeCarbon CLI's ``POST /experiments`` body that the hub reads."""

    name: Annotated[str, Meta(extra={"missing": "is required"})]
    description: str | None = None
    on_cloud: bool | None = None
    project_id: str | None = None
    country_iso_code: str | None = None
    region: str | None = None
    cloud_provider: str | None = None
    cloud_region: str | None = None


_FIELDS: dict[type[msgspec.Struct], dict[str, Any]] = {
    kind: _fields(kind)
    for kind in (
        MeasurementIn,
        ForeignMeasurement,
        CodeCarbonEmission,
        CodeCarbonRun,
        CodeCarbonExperiment,
    )
}
# Valid values of the required fields, so that one field at a time can be tried.
_MINIMAL: dict[type[msgspec.Struct], dict[str, Any]] = {
    MeasurementIn: {"uuid": uuidlib.UUID(int=0), "start": EARLIEST, "end": EARLIEST},
    CodeCarbonEmission: {"run_id": uuidlib.UUID(int=0), "timestamp": EARLIEST, "duration": 0.0},
}
_MINIMAL[ForeignMeasurement] = _MINIMAL[MeasurementIn]
_MINIMAL[CodeCarbonRun] = {}
_MINIMAL[CodeCarbonExperiment] = {"name": "x"}


# --- messages derived from the declared constraints ---------------------------------------


def _bare(t: mi.Type) -> tuple[mi.Type, dict[str, Any]]:
    """The type without ``None`` and its metadata, and the field's own ``extra``."""
    extra: dict[str, Any] = {}
    if isinstance(t, mi.Metadata):
        extra, t = dict(t.extra or {}), t.type
    if isinstance(t, mi.UnionType):
        t = next(x for x in t.types if not isinstance(x, mi.NoneType))
    if isinstance(t, mi.Metadata):
        extra, t = {**(t.extra or {}), **extra}, t.type
    return t, extra


def explain(name: str, value: Any, kind: type[msgspec.Struct] = ForeignMeasurement) -> str:
    """Why ``value`` does not fit the declared type of field ``name`` of ``kind``.

    ``value`` is ``MISSING`` for a required field that was not sent. A field may carry its
    own wording in ``Meta(extra={"message": ..., "missing": ...})``."""
    t, extra = _bare(_FIELDS[kind][name].type)
    if value is MISSING and "missing" in extra:
        return str(extra["missing"])
    if "message" in extra:
        return str(extra["message"])
    if value is MISSING:
        value = None
    if isinstance(t, mi.FloatType):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        number = float(value) if isinstance(value, float) or abs(value) < 2**1000 else float("inf")
        if number != number or number in (float("inf"), float("-inf")):
            return "must be a finite number (NaN and infinity are refused)"
        if t.gt is not None and number <= t.gt:
            return f"must be above {t.gt:g}"
        if t.ge is not None and number < t.ge:
            return "must not be negative" if t.ge == 0 else f"must be at least {t.ge:g}"
        return f"must be at most {t.le:g}"
    if isinstance(t, mi.IntType):
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return f"must be between {t.ge} and {t.le}"
    if isinstance(t, mi.StrType):
        if not isinstance(value, str):
            return "must be a string"
        return f"must be at most {t.max_length} characters"
    if isinstance(t, mi.UUIDType):
        return "must be a UUID"
    if isinstance(t, mi.DateTimeType):
        if not isinstance(value, str):
            return "is required, as an ISO 8601 timestamp"
        return f"{value!r} is not an ISO 8601 timestamp"
    if isinstance(t, mi.LiteralType):
        return f"{value!r} is not one of {', '.join(sorted(str(v) for v in t.values))}"
    if isinstance(t, mi.BoolType):
        return "must be true or false"
    return "has the wrong type"


MISSING = object()


def field_errors(item: dict[str, Any], kind: type[msgspec.Struct]) -> dict[str, str]:
    """Every field of a raw item that does not fit its declared type, with why."""
    errors: dict[str, str] = {}
    for name, f in _FIELDS[kind].items():
        if name not in item or item[name] is None:
            if f.required:
                errors[name] = explain(name, MISSING, kind)
            continue
        try:
            msgspec.convert({**_MINIMAL[kind], name: item[name]}, kind)
        except msgspec.ValidationError:
            errors[name] = explain(name, item[name], kind)
    return errors


# --- the rules between fields ---------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """A timestamp in UTC; a naive one is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def time_problem(moment: datetime, now: datetime | None = None) -> str | None:
    """Why a timestamp is outside what the hub accepts, or None when it is good.

    The one bound of every timestamp on every path (measurements, a run's start and end,
    CodeCarbon's runs and intervals, imported files): from :data:`EARLIEST` to
    ``API_MAX_FUTURE_S`` after the hub's clock (for clock skew). Python's datetimes stop
    at the year 9999 and every page reads the stored times back."""
    now = now or timezone.now()
    moment = as_utc(moment)
    if moment < EARLIEST:
        return "is before the year 2000"
    if moment > now + timedelta(seconds=settings.API_MAX_FUTURE_S):
        return f"is in the future ({moment.isoformat()}; the hub's clock says {now.isoformat()})"
    return None


def number_problem(value: Any, name: str) -> str | None:
    """Why a JSON value (params, metrics, hardware...) cannot be stored, or None.

    A number beyond the largest float (a 400-digit integer, or 1e400, which Python reads as
    infinity) is refused: the pages, charts and statements that read it back cannot. The
    message names where it is, e.g. ``metrics.loss``."""
    pending: deque[tuple[str, Any]] = deque([(name, value)])
    while pending:
        where, v = pending.popleft()
        if isinstance(v, dict):
            pending.extend((f"{where}.{k}", x) for k, x in v.items())
        elif isinstance(v, list):
            pending.extend((f"{where}[{i}]", x) for i, x in enumerate(v))
        elif isinstance(v, int | float) and not isinstance(v, bool) and not abs(v) <= LARGEST:
            return (
                f"{where} is a number too large to store; the hub keeps numbers within "
                f"\u00b1{LARGEST:.1e}".replace("e+", "e")
            )
    return None


def complete(m: MeasurementIn, now: datetime) -> dict[str, str]:
    """Check the rules that join fields and fill the defaults that depend on others.

    Returns the problems found (empty when the measurement is good)."""
    errors: dict[str, str] = {}
    m.start = as_utc(m.start)
    m.end = as_utc(m.end)
    span = (m.end - m.start).total_seconds()
    if span < 0:
        errors["end"] = "is before start"
    elif span > m.max_span_s:
        errors["end"] = (
            f"is {span:g} s after start; one measurement spans at most {m.max_span_s:g} s "
            f"({m.max_span_s / 3600:g} h)"
        )
    elif m.duration_s is not None and abs(m.duration_s - span) > max(1.0, 0.01 * span):
        errors["duration_s"] = f"is {m.duration_s:g} s but end - start is {span:g} s"
    for name, moment in (("start", m.start), ("end", m.end)):
        problem = time_problem(moment, now)
        if problem:
            errors[name] = problem
    if "\x00" in m.node:
        errors["node"] = "contains a NUL character (\\u0000), which the hub does not store"
    if m.duration_s is None:
        m.duration_s = max(span, 0.0)
    for comp in COMPONENTS:
        energy = getattr(m, f"{comp}_energy_kwh")
        if getattr(m, f"{comp}_method") is None:
            if energy == 0:
                setattr(m, f"{comp}_method", "none")
            else:
                errors[f"{comp}_method"] = f"is required when {comp}_energy_kwh is above zero"
        # An energy must be physically possible over its interval: this catches kWh sent as
        # Wh or J, and a zero-length interval holding energy.
        if energy > 0 and "duration_s" not in errors:
            if m.duration_s <= 0:
                errors[f"{comp}_energy_kwh"] = "is above zero over an interval of zero seconds"
            elif energy * 3_600_000.0 / m.duration_s > MAX_POWER_W:
                errors[f"{comp}_energy_kwh"] = (
                    f"means an average of {energy * 3_600_000.0 / m.duration_s:,.0f} W over "
                    f"{m.duration_s:g} s, above the {MAX_POWER_W:,.0f} W one rank can draw "
                    "(is it in kWh?)"
                )
    if m.gpu_count is None:
        m.gpu_count = 0 if m.gpu_method in (None, "none") else 1
    return errors


# --- entry points ---------------------------------------------------------------------------


def decode_batch(body: bytes, now: datetime | None = None) -> list[MeasurementIn]:
    """Parse and check a native batch body; raise :class:`Invalid` naming every bad item.

    The same UUID twice in one batch is stored once: ``api.ingest.store`` counts the repeat
    as a duplicate, as it counts a resend.
    """
    now = now or timezone.now()
    try:
        batch = _batch_decoder.decode(body).measurements
    except (msgspec.ValidationError, msgspec.DecodeError):
        _refuse(body, now)
        raise  # _refuse always raises; this keeps type checkers content
    except RecursionError:
        raise Invalid(_depth_message()) from None
    _check_size(len(batch))
    if b"\\u0000" in body and any("\x00" in m.node for m in batch):
        raise Invalid(NUL_MESSAGE)
    problems: dict[str, Any] = {}
    for index, m in enumerate(batch):
        errors = complete(m, now)
        if errors:
            problems[str(index)] = errors
    if problems:
        raise _batch_invalid(problems, len(batch))
    return batch


def _check_size(n: int) -> None:
    if n > settings.API_MAX_BATCH:
        raise Invalid(
            f"a batch holds at most {settings.API_MAX_BATCH} measurements; this one has {n}"
        )


def unique(batch: Iterable[MeasurementIn]) -> list[MeasurementIn]:
    """The batch with each UUID once (the first one kept; ``api.ingest.store`` counts the
    others as duplicates)."""
    seen: set[uuidlib.UUID] = set()
    out = []
    for m in batch:
        if m.uuid not in seen:
            seen.add(m.uuid)
            out.append(m)
    return out


def _batch_invalid(problems: dict[str, Any], n: int) -> Invalid:
    return Invalid(f"{len(problems)} of {n} measurements are invalid; nothing was stored", problems)


def _refuse(body: bytes, now: datetime) -> None:
    """Explain why a body does not decode as a batch: every field of every bad item."""
    data = _decode_plain(body)
    if not isinstance(data, dict) or "measurements" not in data:
        raise Invalid("the body must be an object with a 'measurements' list")
    items = data["measurements"]
    measurements(items, now)  # raises with every problem of every item
    raise Invalid("the body does not match the measurement schema")


def _decode_plain(body: bytes) -> Any:
    """A body decoded as plain JSON values, checked as the API's parser checks them (depth,
    NUL, lone surrogates: ``api.parsers.check_json``); raise :class:`Invalid`."""
    from api.parsers import check_json  # api.parsers imports this module

    try:
        data = _plain_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise Invalid(_not_json(body, exc)) from None
    except RecursionError:
        raise Invalid(_depth_message()) from None
    check_json(data)
    return data


def _depth_message() -> str:
    from api.parsers import DEPTH_MESSAGE  # api.parsers imports this module

    return DEPTH_MESSAGE


def _not_json(body: bytes, exc: Exception) -> str:
    """Why a body is not JSON; NaN and Infinity, which some encoders write, are named."""

    def constant(token: str) -> None:
        raise ValueError(f"Out of range float values are not JSON compliant: {token!r}")

    try:
        json.loads(body, parse_constant=constant)
    except ValueError as why:
        return f"JSON parse error - {why}"
    return f"JSON parse error - {exc}"


def measurements(items: Any, now: datetime | None = None) -> list[MeasurementIn]:
    """A batch given as Python values (a decoded body, seeding, tests), each item checked
    by :func:`measurement`; raise :class:`Invalid` naming every bad item. The same UUID
    twice is stored once (:func:`decode_batch`)."""
    if not isinstance(items, list):
        raise Invalid("'measurements' must be a list of measurement objects")
    _check_size(len(items))
    now = now or timezone.now()
    problems: dict[str, Any] = {}
    out = []
    for index, item in enumerate(items):
        try:
            out.append(measurement(item, now, MeasurementIn))
        except Invalid as exc:
            problems[str(index)] = exc.fields or exc.message
    if problems:
        raise _batch_invalid(problems, len(items))
    return out


def measurement(
    values: Any, now: datetime | None = None, kind: type[MeasurementIn] = ForeignMeasurement
) -> MeasurementIn:
    """The typed measurement for a dict of field values (Python values: datetimes may be
    given as such); raise :class:`Invalid` listing every problem."""
    if not isinstance(values, dict):
        raise Invalid("each measurement must be a JSON object")
    try:
        m = msgspec.convert(values, kind)
    except msgspec.ValidationError:
        fields = field_errors(values, kind)
        raise Invalid("invalid measurement", fields or {"measurement": "is invalid"}) from None
    errors = complete(m, now or timezone.now())
    if errors:
        raise Invalid("invalid measurement", errors)
    return m


StructT = TypeVar("StructT", bound=msgspec.Struct)


def decode_emission(body: bytes) -> tuple[CodeCarbonEmission, dict[str, Any]]:
    """Parse and check CodeCarbon's ``POST /emissions`` body; return it typed and as sent
    (the derived interval id is made from the values as sent). Raise :class:`Invalid`."""
    emission, raw = decode_object(body, CodeCarbonEmission, "invalid emission")
    emission.timestamp = as_utc(emission.timestamp)
    problem = time_problem(emission.timestamp)
    if problem:
        raise Invalid("invalid emission", {"timestamp": problem})
    return emission, raw


def decode_object(
    body: bytes | dict[str, Any], kind: type[StructT], what: str
) -> tuple[StructT, dict[str, Any]]:
    """A JSON object body (or one already parsed) checked against ``kind``: it typed, and as
    sent. Raise :class:`Invalid` with every bad field."""
    raw = body if isinstance(body, dict) else _decode_plain(body)
    if not isinstance(raw, dict):
        raise Invalid("The body must be a JSON object.")
    try:
        return msgspec.convert(raw, kind), raw
    except msgspec.ValidationError:
        raise Invalid(what, field_errors(raw, kind)) from None


def parse_time(raw: Any, name: str, errors: dict[str, str]) -> datetime | None:
    """An ISO 8601 timestamp (a naive one is taken as UTC) within the hub's bound
    (:func:`time_problem`), or None with the problem noted."""
    if not isinstance(raw, str):
        errors[name] = "is required, as an ISO 8601 timestamp"
        return None
    try:
        moment = as_utc(msgspec.convert(raw.strip(), datetime))
    except msgspec.ValidationError:
        errors[name] = f"{raw!r} is not an ISO 8601 timestamp"
        return None
    problem = time_problem(moment)
    if problem:
        errors[name] = problem
        return None
    return moment


(BATCH_SCHEMA, EMISSION_SCHEMA), COMPONENTS_SCHEMAS = msgspec.json.schema_components(
    [Batch, CodeCarbonEmission], ref_template="#/components/schemas/{name}"
)


def openapi_hook(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: adds the Structs' schemas to the components, so
    the measurement endpoint's documented body is generated from what it enforces."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS_SCHEMAS)
    return result
