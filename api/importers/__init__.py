"""Imports of other tools' result files: CodeCarbon ``emissions.csv``, CarbonTracker logs
and Eco2AI CSV. The UI (``/imports/``), the API (``POST /api/v1/imports``) and the
``import_file`` management command all call :func:`import_file`.

Every accepted row goes through ``api.ingest`` like live data. Rows carry UUIDs derived
from their content, so importing the same file twice stores nothing new.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from typing import Any

from django.db import IntegrityError, transaction

from api.importers import carbontracker, codecarbon_csv, eco2ai
from api.importers.common import ImportReport, Skipped, ingest_parsed, printable
from api.models import ApiKey, ImportedFile, ImportFormat, Project

MAX_IMPORT_BYTES = 20 * 1024 * 1024
FORMATS = [f.value for f in ImportFormat]
# Text with a byte-order mark is read in its encoding (Windows tools write UTF-16 so);
# UTF-32 first, as its little-endian mark begins with UTF-16's.
BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


class ImportRefused(ValueError):
    """The file cannot be imported at all (empty, too large, unknown format, not text)."""


def detect_format(data: str) -> str | None:
    """The format of a file from its content, or None."""
    head = data[:4096]
    first = head.splitlines()[0] if head.strip() else ""
    try:
        header = next(csv.reader(io.StringIO(first)), [])
    except csv.Error:
        header = []
    if codecarbon_csv.looks_like(header):
        return ImportFormat.CODECARBON
    if eco2ai.looks_like(header):
        return ImportFormat.ECO2AI
    if carbontracker.looks_like(head):
        return ImportFormat.CARBONTRACKER
    return None


def decode(raw: bytes) -> str:
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportRefused(
            f"The file is {len(raw):,} bytes; the limit is {MAX_IMPORT_BYTES:,}. Split it and upload the parts."
        )
    if not raw.strip():
        raise ImportRefused("The file is empty.")
    encoding = next((name for bom, name in BOMS if raw.startswith(bom)), None)
    try:
        if encoding:
            text = raw.decode(encoding)
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportRefused(
            f"The file is not text ({encoding.upper() if encoding else 'UTF-8 or Windows-1252'}): "
            "save it as UTF-8 and upload it again."
        ) from None
    first = text.partition("\n")[0]
    if first.count("\x00") * 4 >= len(first) > 0:
        # A stray NUL skips its line; NULs between the letters of the first line mean
        # another encoding.
        raise ImportRefused(
            "The file's first line holds NUL characters (\\u0000): it is not UTF-8 text "
            "(UTF-16 without a byte-order mark, or not a text file). Save it as UTF-8 and "
            "upload it again."
        )
    return text


def import_file(
    project: Project,
    raw: bytes,
    *,
    filename: str = "",
    fmt: str | None = None,
    user: Any = None,
    api_key: ApiKey | None = None,
) -> ImportReport:
    """Parse and store one file into a project; raise ImportRefused when it cannot be read.

    ``fmt`` is one of :data:`FORMATS`, or None to detect it from the content.
    """
    data = decode(raw)
    filename = printable(filename)
    if fmt:
        if fmt not in FORMATS:
            raise ImportRefused(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    else:
        fmt = detect_format(data)
        if fmt is None:
            raise ImportRefused(
                "Could not tell the format of this file: expected a CodeCarbon emissions.csv, "
                "a CarbonTracker *_carbontracker_output.log or an Eco2AI CSV. Choose the format explicitly."
            )
    if fmt == ImportFormat.CODECARBON:
        parsed = codecarbon_csv.parse(data, project)
    elif fmt == ImportFormat.ECO2AI:
        parsed = eco2ai.parse(data)
    else:
        parsed = carbontracker.parse(data, filename)
    if not parsed.rows and parsed.skipped and parsed.skipped[0].line == 1 and not parsed.runs:
        # The file as a whole is not of that format: say so rather than "0 imported".
        raise ImportRefused(parsed.skipped[0].reason)
    sha = hashlib.sha256(raw).hexdigest()
    previous = ImportedFile.objects.filter(project=project, sha256=sha).first()
    report = ingest_parsed(project, parsed)
    if previous is not None:
        report.already_imported = previous.created
        return report
    try:
        with transaction.atomic():
            ImportedFile.objects.create(
                project=project,
                sha256=sha,
                filename=filename[:255],
                format=fmt,
                size_bytes=len(raw),
                uploaded_by=user if getattr(user, "pk", None) else None,
                api_key=api_key,
                accepted=report.accepted,
                duplicates=report.duplicates,
                skipped=[s.as_dict() for s in report.skipped[:1000]],
                run_count=len(report.runs),
            )
    except IntegrityError:
        pass  # the same file uploaded twice at the same moment: the rows were deduplicated anyway
    return report


__all__ = ["FORMATS", "ImportRefused", "ImportReport", "Skipped", "detect_format", "import_file"]
