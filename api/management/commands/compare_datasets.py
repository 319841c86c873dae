"""Print, as Markdown, every factor and cloud-region mapping that differs between datasets."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import carbon
from carbon.compare import factor_changes, region_changes
from carbon.datasets import Published


def _cell(p: Published | None) -> str:
    return "—" if p is None else f"{p.g_per_kwh:g}"


class Command(BaseCommand):
    help = "List the factors (value, basis, year, source) and cloud regions that differ between two datasets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("old", help="a shipped dataset version, e.g. hub-2025.1")
        parser.add_argument("new", nargs="?", default=carbon.DEFAULT_VERSION)

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            old, new = carbon.get_dataset(opts["old"]), carbon.get_dataset(opts["new"])
        except carbon.DatasetError as exc:
            raise CommandError(str(exc)) from exc
        w = self.stdout.write
        changes = factor_changes(old, new)
        w(f"# Factors changed from {old.version} to {new.version}\n")
        w(
            f"{len(changes)} figures differ (value, basis, year or source), as each source publishes them.\n"
        )
        w("| zone | name | old g/kWh | new g/kWh | basis | old year | new year | source |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for c in changes:
            n, o = c.new, c.old
            basis: str = n.basis if n else (o.basis if o else "")
            if o and n and o.basis != n.basis:
                basis = f"{o.basis} -> {n.basis}"
            w(
                f"| {c.zone} | {c.label} | {_cell(o)} | {_cell(n)} | {basis} | "
                f"{o.year if o else '—'} | {n.year if n else '—'} | {n.source_id if n else 'removed'} |"
            )
        regions = region_changes(old, new)
        w(f"\n# Cloud regions added, removed or remapped ({len(regions)})\n")
        w("| provider | region | location | old zone | new zone |")
        w("| --- | --- | --- | --- | --- |")
        for r in regions:
            w(
                f"| {r.provider} | {r.region} | {r.location} | {r.old_zone or 'added'} | {r.new_zone or 'removed'} |"
            )
