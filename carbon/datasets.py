"""Versioned emission-factor datasets shipped as data files.

A dataset is a folder holding a ``dataset.json`` manifest (version, sources, world
fallback, default and provider PUE) and CSV tables (countries, US eGRID subregions, US
states, Canadian provinces, cloud regions, residual mixes). Every row names a source id
from the manifest, so each factor can say where it came from, under which licence.

Zone ids: a country is its ISO 3166-1 alpha-3 code (``FRA``); a sub-national zone is the
country code, a dash and the local code (``USA-CAMX`` for an eGRID subregion, ``CAN-QC``
for a Canadian province); ``WORLD`` is the world-average fallback.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from carbon.accounting import MAX_PUE, MIN_PUE
from carbon.basis import (
    BASIS_LABELS,
    DEFAULT_BASIS,
    DERIVATION_SOURCE,
    Basis,
    Shares,
    assumed_shares,
    check_basis,
    convert,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST_NAME = "dataset.json"

# Bump when a newer dataset folder is shipped; measurements keep the version they used,
# so changing the default never rewrites figures already reported.
DEFAULT_VERSION = "hub-2026.1"

WORLD_ZONE = "WORLD"

# 1 lb/MWh = 453.59237 g / 1000 kWh.
LB_PER_MWH_TO_G_PER_KWH = 0.45359237

SUPPORTED_FORMAT = 1

ZoneKind = Literal["country", "subnational", "cloud", "world"]


class DatasetError(ValueError):
    """A dataset file is missing, malformed or inconsistent."""


class UnknownLocation(ValueError):
    """A country, region, cloud region or zone id that the dataset does not know."""


@dataclass(frozen=True)
class Source:
    """Where a family of figures comes from."""

    id: str
    name: str
    year: int
    licence: str
    url: str


@dataclass(frozen=True)
class Factor:
    """One emission factor with its provenance.

    ``basis`` is the basis of ``g_per_kwh``; ``derived`` is set when the source published
    the other basis and the figure was brought to this one (see :mod:`carbon.basis`), in
    which case ``note`` says how. ``year`` is the year the figure is for.
    """

    zone: str
    g_per_kwh: float
    year: int
    source: str
    licence: str
    url: str
    dataset_version: str
    is_fallback: bool
    note: str = ""
    basis: Basis = DEFAULT_BASIS
    derived: bool = False


@dataclass(frozen=True)
class Published:
    """A figure exactly as its source publishes it: value, basis, data year, source id."""

    zone: str
    g_per_kwh: float
    basis: Basis
    year: int
    source_id: str


@dataclass(frozen=True)
class Mix:
    """Shares of yearly generation by family, in percent (ESRS E1-5 split)."""

    zone: str
    fossil_pct: float
    nuclear_pct: float
    renewable_pct: float
    year: int
    source: str


@dataclass(frozen=True)
class ZoneInfo:
    """A grid zone: ``country`` is the alpha-3 code of the country it belongs to."""

    id: str
    label: str
    kind: ZoneKind
    country: str | None
    alpha2: str | None = None
    # A cloud zone's grid zone (the finest published zone its data centres sit in).
    parent: str | None = None


@dataclass(frozen=True)
class CloudRegion:
    """A public cloud region.

    ``grid_zone`` is the finest published grid zone its data centres sit in; ``zone`` is
    the zone whose factor applies: the region's own zone (``GCP-US-WEST1``) where the
    provider publishes a grid intensity for the region, else ``grid_zone``.
    """

    provider: str
    region: str
    location: str
    zone: str
    pue: float
    pue_source: str
    grid_zone: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        """Human name such as ``AWS eu-west-3 (Europe (Paris))``."""
        return f"{PROVIDER_SHORT_NAMES.get(self.provider, self.provider)} {self.region} ({self.location})"


@dataclass(frozen=True)
class Provider:
    """A cloud provider and the fleet PUE it publishes."""

    id: str
    name: str
    pue: float
    source: str


@dataclass(frozen=True)
class DatasetInfo:
    """Summary of a dataset for listings."""

    version: str
    name: str
    year: int
    source: str
    licence: str
    url: str
    is_default: bool
    path: str


PROVIDER_SHORT_NAMES = {"aws": "AWS", "gcp": "Google Cloud", "azure": "Azure"}


@dataclass(frozen=True)
class _ZoneRecord:
    info: ZoneInfo
    g_per_kwh: float | None
    year: int | None
    source_id: str | None
    note: str = ""
    basis: Basis = DEFAULT_BASIS
    shares: Shares | None = None
    # Figures a source publishes for the zone on the other basis: basis -> (g, year, source).
    others: tuple[tuple[Basis, float, int, str], ...] = ()


@dataclass(frozen=True)
class _Residual:
    zone: str
    g_per_kwh: float
    basis: Basis
    year: int
    source_id: str
    shares: Shares | None


class Dataset:
    """A loaded, validated dataset. Build it with :func:`load_dataset_file`."""

    def __init__(
        self,
        *,
        version: str,
        name: str,
        year: int,
        source: str,
        licence: str,
        url: str,
        path: Path,
        sources: dict[str, Source],
        default_pue: float,
        default_pue_source: str,
        providers: dict[str, Provider],
        residual_mix_fallback: str,
        zones: dict[str, _ZoneRecord],
        alpha2: dict[str, str],
        aliases: dict[str, dict[str, str]],
        us_states: dict[str, str],
        mixes: dict[str, Mix],
        residual: dict[str, _Residual],
        cloud: dict[tuple[str, str], CloudRegion],
    ) -> None:
        self.version = version
        self.name = name
        self.year = year
        self.source = source
        self.licence = licence
        self.url = url
        self.path = path
        self.sources = sources
        self.default_pue = default_pue
        self.default_pue_source = default_pue_source
        self.providers = providers
        self.residual_mix_fallback = residual_mix_fallback
        self._zones = zones
        self._alpha2 = alpha2
        self._aliases = aliases
        self._us_states = us_states
        self._mixes = mixes
        self._residual = residual
        self._cloud = cloud

    @property
    def world(self) -> Factor:
        """The world-average fallback factor on the default basis."""
        return self.factor(WORLD_ZONE)

    def __repr__(self) -> str:
        return f"<Dataset {self.version}>"

    # Zones ---------------------------------------------------------------------------

    def zones(self) -> list[ZoneInfo]:
        """Every zone with a factor: countries, sub-national zones, then ``WORLD``."""
        return [record.info for record in self._zones.values()]

    def zone(self, zone: str) -> ZoneInfo:
        """The zone with this id; raises :class:`UnknownLocation` if there is none."""
        return self._record(zone).info

    def has_zone(self, zone: str) -> bool:
        """Whether ``zone`` is a zone id of this dataset."""
        return zone.strip().upper() in self._zones

    def country_for_alpha2(self, alpha2: str) -> str | None:
        """The alpha-3 code for an alpha-2 code, or None."""
        return self._alpha2.get(alpha2.strip().upper())

    def us_state_subregion(self, state: str) -> str | None:
        """Zone id of the dominant eGRID subregion of a US state code, or None."""
        return self._us_states.get(state.strip().upper())

    def subnational_zone(self, country: str, region: str) -> str | None:
        """Zone id for a region inside a country (alpha-3), or None if unknown.

        Accepts the zone id (``USA-CAMX``), the local code (``CAMX``, ``QC``), a US state
        code (``CA``) or name (``California``) and a Canadian province name (``Québec``).
        """
        return self._aliases.get(country.strip().upper(), {}).get(_fold(region))

    def has_subnational_zones(self, country: str) -> bool:
        """Whether the dataset has sub-national zones for this country (alpha-3)."""
        return bool(self._aliases.get(country.strip().upper()))

    def subnational_zones(self, country: str) -> list[ZoneInfo]:
        """The sub-national zones of a country (alpha-3)."""
        country = country.strip().upper()
        return [
            record.info
            for record in self._zones.values()
            if record.info.kind == "subnational" and record.info.country == country
        ]

    # Factors -------------------------------------------------------------------------

    def factor(self, zone: str, basis: Basis = DEFAULT_BASIS) -> Factor:
        """Location-based yearly factor of a zone, on ``basis``.

        A figure published on the other basis is converted with the zone's generation mix
        (``derived`` set, the method in ``note``). A sub-national zone without its own
        figure falls back to its country, with ``is_fallback`` set and a note saying so.
        ``WORLD`` is always a fallback.
        """
        basis = check_basis(basis)
        record = self._record(zone)
        if record.g_per_kwh is not None and record.source_id is not None:
            return self._make_factor(record, basis)
        # Only sub-national zones may lack a figure (checked at load time).
        assert record.info.country is not None
        parent = self.factor(record.info.country, basis)
        return dataclasses.replace(
            parent,
            zone=record.info.id,
            is_fallback=True,
            note=f"No figure for {record.info.label}; the {parent.zone} country factor is used. "
            + parent.note,
        )

    def residual_mix(self, zone: str, basis: Basis = DEFAULT_BASIS) -> Factor:
        """Residual-mix factor for market-based Scope 2, on ``basis``.

        Looked up for the zone, then its grid zone (a cloud zone's), then its country.
        Where none is published, the location-based factor is returned with
        ``is_fallback`` set and the caveat in ``note``.
        """
        basis = check_basis(basis)
        record = self._record(zone)
        for candidate in (record.info.id, record.info.parent, record.info.country):
            if candidate is None or candidate not in self._residual:
                continue
            found = self._residual[candidate]
            g, derived, note = self._on_basis(
                found.g_per_kwh, found.basis, basis, found.shares, self._shares_of(candidate)
            )
            if candidate != record.info.id:
                note = f"Residual mix of {candidate} applied to {record.info.id}. {note}".strip()
            return self._sourced(
                record.info.id,
                g,
                found.year,
                found.source_id,
                note=note,
                basis=basis,
                derived=derived,
            )
        location = self.factor(record.info.id, basis)
        return dataclasses.replace(
            location,
            is_fallback=True,
            note=f"No residual mix published for {record.info.id}. {self.residual_mix_fallback}",
        )

    def published(self, zone: str) -> Published | None:
        """The figure of a zone as its source publishes it, or None where it has none."""
        record = self._record(zone)
        if record.g_per_kwh is None or record.source_id is None:
            return None
        return Published(
            record.info.id,
            record.g_per_kwh,
            record.basis,
            record.year or self.year,
            record.source_id,
        )

    def published_residual(self, zone: str) -> Published | None:
        """The residual mix recorded for exactly this zone, as published, or None."""
        found = self._residual.get(zone.strip().upper())
        if found is None:
            return None
        return Published(found.zone, found.g_per_kwh, found.basis, found.year, found.source_id)

    def grid_zone(self, zone: str) -> str:
        """The grid zone a zone's electricity comes from: a cloud zone's, else itself."""
        info = self._record(zone).info
        return info.parent or info.id

    def zones_in_grid(self, grid: str) -> set[str]:
        """The grid zone and the cloud zones of this dataset that sit in it."""
        return {grid} | {r.zone for r in self._cloud.values() if r.grid_zone == grid}

    def has_residual_mix(self, zone: str) -> bool:
        """Whether a published residual mix exists for the zone or its country."""
        return not self.residual_mix(zone).is_fallback

    def mix(self, zone: str) -> Mix | None:
        """Generation mix shares of the zone's country, or None where not recorded."""
        record = self._record(zone)
        if record.info.kind == "country":
            return self._mixes.get(record.info.id)
        return None

    # Cloud ---------------------------------------------------------------------------

    def cloud_regions(self, provider: str | None = None) -> list[CloudRegion]:
        """Every cloud region, or those of one provider id (``aws``, ``gcp``, ``azure``)."""
        return [r for r in self._cloud.values() if provider is None or r.provider == provider]

    def cloud_region(self, provider: str, region: str) -> CloudRegion | None:
        """A cloud region by provider id and region code (case-insensitive), or None."""
        return self._cloud.get((provider.strip().lower(), region.strip().lower()))

    def provider_pue(self, provider: str) -> float:
        """Fleet PUE published by a provider id."""
        return self.providers[provider].pue

    def info(self) -> DatasetInfo:
        """Summary of this dataset."""
        return DatasetInfo(
            version=self.version,
            name=self.name,
            year=self.year,
            source=self.source,
            licence=self.licence,
            url=self.url,
            is_default=self.version == DEFAULT_VERSION,
            path=str(self.path),
        )

    # Internals -----------------------------------------------------------------------

    def _record(self, zone: str) -> _ZoneRecord:
        key = zone.strip().upper()
        try:
            return self._zones[key]
        except KeyError:
            raise UnknownLocation(
                f"Unknown grid zone {zone!r} in dataset {self.version}: use an ISO alpha-3 "
                "country code (e.g. FRA), a sub-national zone (e.g. USA-CAMX, CAN-QC) or WORLD."
            ) from None

    def _shares_of(self, zone: str | None) -> Shares | None:
        """Generation shares of a zone, else of its grid zone, else of its country."""
        while zone is not None and zone in self._zones:
            record = self._zones[zone]
            if record.shares is not None:
                return record.shares
            nxt = record.info.parent or record.info.country
            zone = nxt if nxt != zone else None
        return None

    def _on_basis(
        self,
        g_per_kwh: float,
        published: Basis,
        wanted: Basis,
        shares: Shares | None,
        fallback_shares: Shares | None,
    ) -> tuple[float, bool, str]:
        """``(figure on wanted, derived?, note)`` for a figure published on ``published``."""
        if published == wanted:
            return g_per_kwh, False, ""
        note = (
            f"Published as {BASIS_LABELS[published]} ({g_per_kwh:g} g/kWh); brought to "
            f"{BASIS_LABELS[wanted]}. {DERIVATION_SOURCE}"
        )
        mix = shares or fallback_shares
        if mix is None:
            mix = assumed_shares(g_per_kwh, published)
            note += (
                "; no generation mix is recorded, so the fossil share "
                f"({mix.fossil * 100:.0f} %) is estimated from the figure itself."
            )
        elif shares is None:
            note += "; the generation mix of the enclosing zone is used."
        else:
            note += "."
        return round(convert(g_per_kwh, published, wanted, mix), 1), True, note

    def _make_factor(self, record: _ZoneRecord, basis: Basis) -> Factor:
        assert record.g_per_kwh is not None and record.source_id is not None
        world = record.info.id == WORLD_ZONE
        for other_basis, g_other, year_other, source_other in record.others:
            if other_basis == basis and basis != record.basis:
                return self._sourced(
                    record.info.id, g_other, year_other, source_other,
                    note=record.note, basis=basis, is_fallback=world,
                )  # fmt: skip
        parent = record.info.parent or record.info.country
        fallback_shares = self._shares_of(parent) if parent != record.info.id else None
        g, derived, how = self._on_basis(
            record.g_per_kwh, record.basis, basis, record.shares, fallback_shares
        )
        note = " ".join(part for part in (record.note, how) if part)
        return self._sourced(
            record.info.id, g, record.year or self.year, record.source_id,
            note=note, basis=basis, derived=derived, is_fallback=world,
        )  # fmt: skip

    def _sourced(
        self,
        zone: str,
        g_per_kwh: float,
        year: int,
        source_id: str,
        *,
        note: str,
        basis: Basis,
        derived: bool = False,
        is_fallback: bool = False,
    ) -> Factor:
        """A factor of this dataset with the provenance of one of its sources."""
        source = self.sources[source_id]
        return Factor(
            zone=zone,
            g_per_kwh=g_per_kwh,
            year=year,
            source=source.name,
            licence=source.licence,
            url=source.url,
            dataset_version=self.version,
            is_fallback=is_fallback,
            note=note,
            basis=basis,
            derived=derived,
        )


# Loading ---------------------------------------------------------------------------------


def load_dataset_file(path: str | Path) -> Dataset:
    """Load and validate a dataset from its folder or its ``dataset.json`` manifest.

    Raises :class:`DatasetError` with the file and row at fault when anything is missing,
    not a positive finite number, or refers to an unknown source or zone.
    """
    path = Path(path)
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest_path.is_file():
        raise DatasetError(f"{manifest_path}: no such dataset manifest")
    return _Loader(manifest_path, _json_object(manifest_path, "manifest")).load()


def _json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file holding an object; DatasetError naming the file otherwise."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read JSON {what}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise DatasetError(f"{path}: the {what} must be a JSON object")
    return loaded


class _Loader:
    def __init__(self, manifest_path: Path, manifest: dict[str, Any]) -> None:
        self.path = manifest_path
        self.folder = manifest_path.parent
        self.m = manifest

    def fail(self, message: str) -> DatasetError:
        return DatasetError(f"{self.path}: {message}")

    def text(self, obj: dict[str, Any], key: str, where: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}: {key!r} must be a non-empty string")
        return value.strip()

    def number(self, value: Any, where: str, *, allow_zero: bool = False) -> float:
        if isinstance(value, bool):
            raise self.fail(f"{where}: {value!r} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(f"{where}: {value!r} is not a number") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            raise self.fail(f"{where}: {value!r} must be a positive finite number")
        return number

    def integer(self, value: Any, where: str) -> int:
        try:
            return int(str(value).strip())
        except ValueError:
            raise self.fail(f"{where}: {value!r} is not a whole year") from None

    def basis(self, value: Any, where: str) -> Basis:
        try:
            return check_basis(str(value or "").strip().lower())
        except ValueError as exc:
            raise self.fail(f"{where}: {exc}") from None

    def shares(self, row: dict[str, Any], where: str) -> Shares | None:
        """Generation shares of a row (``fossil_pct``, ``nuclear_pct``, ``renewable_pct``)."""
        raw = [row.get(k, "") for k in ("fossil_pct", "nuclear_pct", "renewable_pct")]
        if not any(str(v).strip() for v in raw):
            return None
        fossil, nuclear, renewable = (
            self.number(str(v).strip() or "0", where, allow_zero=True) for v in raw
        )
        # Shares are rounded and "other" sources are left out, so allow a little slack.
        if not 95.0 <= fossil + nuclear + renewable <= 100.5:
            raise self.fail(f"{where}: mix shares do not add up to about 100 %")
        return Shares.from_percent(fossil, nuclear, renewable)

    def rows(self, key: str, columns: set[str]) -> list[dict[str, str]]:
        files = self.m.get("files")
        if not isinstance(files, dict) or not isinstance(files.get(key), str):
            raise self.fail(f"'files' must name the {key!r} table")
        file_path = self.folder / files[key]
        try:
            with file_path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                missing = columns - set(reader.fieldnames or [])
                if missing:
                    raise DatasetError(f"{file_path}: missing columns {sorted(missing)}")
                return [
                    {k: (v or "").strip() for k, v in row.items() if k is not None}
                    for row in reader
                ]
        except OSError as exc:
            raise DatasetError(f"{file_path}: cannot read: {exc}") from exc

    def source_id(self, value: str, sources: dict[str, Source], where: str) -> str:
        if value not in sources:
            raise self.fail(f"{where}: unknown source id {value!r}")
        return value

    def raw_sources(self) -> dict[str, Any]:
        """The manifest's ``sources`` merged with those of its ``source_files``."""
        merged: dict[str, Any] = {}
        inline = self.m.get("sources", {})
        if not isinstance(inline, dict):
            raise self.fail("'sources' must be an object")
        merged.update(inline)
        extra = self.m.get("source_files", [])
        if not isinstance(extra, list):
            raise self.fail("'source_files' must be a list of file names")
        for name in extra:
            file_path = self.folder / str(name)
            loaded = _json_object(file_path, "sources")
            for sid in loaded:
                if sid in merged:
                    raise DatasetError(f"{file_path}: source id {sid!r} is defined twice")
            merged.update(loaded)
        if not merged:
            raise self.fail("'sources' must be a non-empty object")
        return merged

    def load(self) -> Dataset:
        m = self.m
        if m.get("format") != SUPPORTED_FORMAT:
            raise self.fail(f"unsupported format {m.get('format')!r}; expected {SUPPORTED_FORMAT}")
        version = self.text(m, "version", "manifest")
        year = self.integer(m.get("year"), "manifest year")

        sources: dict[str, Source] = {}
        for sid, raw in self.raw_sources().items():
            if not isinstance(raw, dict):
                raise self.fail(f"source {sid!r} must be an object")
            sources[sid] = Source(
                id=sid,
                name=self.text(raw, "name", f"source {sid}"),
                year=self.integer(raw.get("year"), f"source {sid} year"),
                licence=self.text(raw, "licence", f"source {sid}"),
                url=self.text(raw, "url", f"source {sid}"),
            )

        def src(obj: Any, where: str) -> Source:
            if not isinstance(obj, dict):
                raise self.fail(f"{where} must be an object")
            return sources[self.source_id(self.text(obj, "source", where), sources, where)]

        world_raw = m.get("world")
        world_source = src(world_raw, "world")
        assert isinstance(world_raw, dict)
        world_record = _ZoneRecord(
            ZoneInfo(WORLD_ZONE, "World average", "world", None),
            self.number(world_raw.get("g_per_kwh"), "world g_per_kwh"),
            self.integer(world_raw.get("year"), "world year"),
            world_source.id,
            note="Location unknown: world-average grid intensity used.",
            basis=self.basis(world_raw.get("basis"), "world basis"),
            shares=self.shares(world_raw, "world"),
        )

        pue_raw = m.get("default_pue")
        pue_source = src(pue_raw, "default_pue")
        assert isinstance(pue_raw, dict)
        default_pue = self.check_pue(pue_raw.get("value"), "default_pue")

        providers: dict[str, Provider] = {}
        raw_providers = m.get("providers")
        if not isinstance(raw_providers, dict):
            raise self.fail("'providers' must be an object")
        for pid, raw in raw_providers.items():
            providers[pid] = Provider(
                id=pid,
                name=self.text(raw, "name", f"provider {pid}"),
                pue=self.check_pue(raw.get("pue"), f"provider {pid} pue"),
                source=src(raw, f"provider {pid}").name,
            )

        zones: dict[str, _ZoneRecord] = {}
        alpha2: dict[str, str] = {}
        mixes: dict[str, Mix] = {}
        self.load_countries(zones, alpha2, mixes, sources)
        aliases: dict[str, dict[str, str]] = {"USA": {}, "CAN": {}}
        us_states = self.load_us(zones, sources, aliases["USA"])
        self.load_canada(zones, sources, aliases["CAN"])
        zones[WORLD_ZONE] = world_record

        residual: dict[str, _Residual] = {}
        for n, row in enumerate(
            self.rows("residual_mix", {"zone", "g_per_kwh", "basis", "year", "source"}), 2
        ):
            where = f"residual_mix row {n}"
            zone = row["zone"].upper()
            if zone not in zones or zone == WORLD_ZONE:
                raise self.fail(f"{where}: unknown zone {zone!r}")
            residual[zone] = _Residual(
                zone=zone,
                g_per_kwh=self.number(row["g_per_kwh"], where),
                basis=self.basis(row["basis"], where),
                year=self.integer(row["year"], where),
                source_id=self.source_id(row["source"], sources, where),
                shares=self.shares(row, where),
            )

        cloud = self.load_cloud(zones, providers, sources)
        self.load_other_basis(zones, sources)

        return Dataset(
            version=version,
            name=self.text(m, "name", "manifest"),
            year=year,
            source=self.text(m, "source", "manifest"),
            licence=self.text(m, "licence", "manifest"),
            url=self.text(m, "url", "manifest"),
            path=self.folder,
            sources=sources,
            default_pue=default_pue,
            default_pue_source=pue_source.name,
            providers=providers,
            residual_mix_fallback=self.text(m, "residual_mix_fallback", "manifest"),
            zones=zones,
            alpha2=alpha2,
            aliases=aliases,
            us_states=us_states,
            mixes=mixes,
            residual=residual,
            cloud=cloud,
        )

    def check_pue(self, value: Any, where: str) -> float:
        pue = self.number(value, where)
        if not MIN_PUE <= pue <= MAX_PUE:
            raise self.fail(f"{where}: PUE {pue} is outside {MIN_PUE} to {MAX_PUE}")
        return pue

    def load_other_basis(self, zones: dict[str, _ZoneRecord], sources: dict[str, Source]) -> None:
        """Optional ``other_basis`` table: a zone's published figure on its other basis,
        used instead of a conversion (e.g. eGRID's national direct rate for the USA)."""
        files = self.m.get("files")
        if not isinstance(files, dict) or "other_basis" not in files:
            return
        columns = {"zone", "g_per_kwh", "basis", "year", "source"}
        for n, row in enumerate(self.rows("other_basis", columns), 2):
            where = f"other_basis row {n}"
            zone = row["zone"].upper()
            record = zones.get(zone)
            if record is None or record.g_per_kwh is None:
                raise self.fail(f"{where}: unknown zone, or a zone without a figure: {zone!r}")
            basis = self.basis(row["basis"], where)
            if basis == record.basis:
                raise self.fail(f"{where}: {zone} is already published on the {basis} basis")
            extra = (
                basis,
                self.number(row["g_per_kwh"], where, allow_zero=True),
                self.integer(row["year"], where),
                self.source_id(row["source"], sources, where),
            )
            zones[zone] = dataclasses.replace(record, others=(*record.others, extra))

    def load_cloud(
        self,
        zones: dict[str, _ZoneRecord],
        providers: dict[str, Provider],
        sources: dict[str, Source],
    ) -> dict[tuple[str, str], CloudRegion]:
        """Cloud regions; a region with a provider-published figure becomes a zone of its own."""
        cloud: dict[tuple[str, str], CloudRegion] = {}
        for n, row in enumerate(
            self.rows("cloud_regions", {"provider", "region", "location", "zone"}), 2
        ):
            where = f"cloud_regions row {n}"
            provider = row["provider"].lower()
            if provider not in providers:
                raise self.fail(f"{where}: unknown provider {provider!r}")
            grid_zone = row["zone"].upper()
            if grid_zone not in zones or grid_zone == WORLD_ZONE:
                raise self.fail(f"{where}: unknown zone {grid_zone!r}")
            key = (provider, row["region"].lower())
            if not key[1] or key in cloud:
                raise self.fail(f"{where}: empty or duplicate region {row['region']!r}")
            location = row["location"] or key[1]
            zone = grid_zone
            if row.get("g_per_kwh"):
                zone = cloud_zone_id(provider, key[1])
                grid = zones[grid_zone].info
                label = f"{PROVIDER_SHORT_NAMES.get(provider, provider)} {key[1]} ({location})"
                zones[zone] = _ZoneRecord(
                    ZoneInfo(zone, label, "cloud", grid.country, parent=grid_zone),
                    self.number(row["g_per_kwh"], where, allow_zero=True),
                    self.integer(row.get("year"), where),
                    self.source_id(row.get("source", ""), sources, where),
                    basis=self.basis(row.get("basis"), where),
                )
            cloud[key] = CloudRegion(
                provider=provider,
                region=key[1],
                location=location,
                zone=zone,
                pue=providers[provider].pue,
                pue_source=providers[provider].source,
                grid_zone=grid_zone,
                note=row.get("note", ""),
            )
        return cloud

    def load_countries(
        self,
        zones: dict[str, _ZoneRecord],
        alpha2: dict[str, str],
        mixes: dict[str, Mix],
        sources: dict[str, Source],
    ) -> None:
        columns = {"alpha3", "alpha2", "name", "g_per_kwh", "basis", "year", "source"}
        for n, row in enumerate(self.rows("countries", columns), 2):
            where = f"countries row {n}"
            a3, a2 = row["alpha3"].upper(), row["alpha2"].upper()
            if len(a3) != 3 or not a3.isalpha() or len(a2) != 2 or not a2.isalpha():
                raise self.fail(f"{where}: bad country codes {a3!r}/{a2!r}")
            if a3 in zones or a2 in alpha2:
                raise self.fail(f"{where}: duplicate country {a3}")
            sid = self.source_id(row["source"], sources, where)
            year = self.integer(row["year"], where)
            shares = self.shares(row, where)
            zones[a3] = _ZoneRecord(
                ZoneInfo(a3, self.text(row, "name", where), "country", a3, a2),
                self.number(row["g_per_kwh"], where),
                year,
                sid,
                basis=self.basis(row["basis"], where),
                shares=shares,
            )
            alpha2[a2] = a3
            if shares is not None:
                mixes[a3] = Mix(
                    a3,
                    float(row.get("fossil_pct") or 0),
                    float(row.get("nuclear_pct") or 0),
                    float(row.get("renewable_pct") or 0),
                    year,
                    sources[sid].name,
                )

    def load_us(
        self, zones: dict[str, _ZoneRecord], sources: dict[str, Source], aliases: dict[str, str]
    ) -> dict[str, str]:
        if "USA" not in zones:
            raise self.fail("US sub-national tables need a USA country row")
        columns = {"code", "name", "lb_per_mwh", "g_per_kwh", "basis", "year", "source"}
        for n, row in enumerate(self.rows("us_egrid_subregions", columns), 2):
            where = f"us_egrid_subregions row {n}"
            zone_id = f"USA-{row['code'].upper()}"
            if zone_id in zones:
                raise self.fail(f"{where}: duplicate subregion {zone_id}")
            g_per_kwh: float | None = None
            if row["g_per_kwh"] or row["lb_per_mwh"]:
                g_per_kwh = (
                    self.number(row["g_per_kwh"], where)
                    if row["g_per_kwh"]
                    else round(self.number(row["lb_per_mwh"], where) * LB_PER_MWH_TO_G_PER_KWH, 1)
                )
            zones[zone_id] = _ZoneRecord(
                ZoneInfo(
                    zone_id,
                    f"United States - {self.text(row, 'name', where)} (eGRID {row['code'].upper()})",
                    "subnational",
                    "USA",
                ),
                g_per_kwh,
                self.integer(row["year"], where) if row["year"] else None,
                self.source_id(row["source"], sources, where) if g_per_kwh is not None else None,
                basis=self.basis(row["basis"], where) if g_per_kwh is not None else DEFAULT_BASIS,
                shares=self.shares(row, where),
            )
            aliases[zone_id] = aliases[row["code"].upper()] = zone_id
        states: dict[str, str] = {}
        for n, row in enumerate(self.rows("us_states", {"state", "name", "egrid_subregion"}), 2):
            where = f"us_states row {n}"
            zone_id = f"USA-{row['egrid_subregion'].upper()}"
            if zone_id not in zones:
                raise self.fail(f"{where}: unknown eGRID subregion {row['egrid_subregion']!r}")
            code = row["state"].upper()
            if len(code) != 2 or code in states:
                raise self.fail(f"{where}: bad or duplicate state code {code!r}")
            states[code] = zone_id
            aliases[code] = aliases[_fold(self.text(row, "name", where))] = zone_id
        return states

    def load_canada(
        self, zones: dict[str, _ZoneRecord], sources: dict[str, Source], aliases: dict[str, str]
    ) -> None:
        if "CAN" not in zones:
            raise self.fail("Canadian provinces need a CAN country row")
        for n, row in enumerate(
            self.rows("canada_provinces", {"code", "name", "g_per_kwh", "basis", "year", "source"}),
            2,
        ):
            where = f"canada_provinces row {n}"
            zone_id = f"CAN-{row['code'].upper()}"
            if zone_id in zones:
                raise self.fail(f"{where}: duplicate province {zone_id}")
            has_figure = bool(row["g_per_kwh"])
            name = self.text(row, "name", where)
            aliases[zone_id] = aliases[row["code"].upper()] = aliases[_fold(name)] = zone_id
            zones[zone_id] = _ZoneRecord(
                ZoneInfo(zone_id, f"Canada - {name}", "subnational", "CAN"),
                self.number(row["g_per_kwh"], where) if has_figure else None,
                self.integer(row["year"], where) if has_figure else None,
                self.source_id(row["source"], sources, where) if has_figure else None,
                basis=self.basis(row["basis"], where) if has_figure else DEFAULT_BASIS,
                shares=self.shares(row, where),
            )


def cloud_zone_id(provider: str, region: str) -> str:
    """Zone id of a cloud region that has its own published factor: ``GCP-US-WEST1``."""
    return f"{provider.upper()}-{region.upper()}"


def _fold(text: str) -> str:
    """Upper-case, accent-free form used to match place names ("Québec" == "QUEBEC")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper().strip()


# Registry --------------------------------------------------------------------------------


def _shipped_folders() -> dict[str, Path]:
    folders: dict[str, Path] = {}
    for manifest in sorted(DATA_DIR.glob(f"*/{MANIFEST_NAME}")):
        folders[manifest.parent.name] = manifest.parent
    return folders


def get_dataset(version: str | None = None) -> Dataset:
    """The shipped dataset of this version (default: the current one), loaded once."""
    return _load_shipped(version or DEFAULT_VERSION)


@functools.cache
def _load_shipped(wanted: str) -> Dataset:
    folders = _shipped_folders()
    if wanted not in folders:
        raise DatasetError(
            f"Unknown dataset version {wanted!r}; shipped: {', '.join(sorted(folders)) or 'none'}"
        )
    dataset = load_dataset_file(folders[wanted])
    if dataset.version != wanted:
        raise DatasetError(
            f"{folders[wanted]}: folder name and manifest version {dataset.version!r} differ"
        )
    return dataset


def list_datasets() -> list[DatasetInfo]:
    """Every shipped dataset, oldest version first."""
    return [get_dataset(version).info() for version in sorted(_shipped_folders())]
