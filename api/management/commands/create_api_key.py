"""Create an API key; the plain key is printed alone on the last line (shown once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from api.models import ApiKey, ApiKeyScope, Organisation, Project


class Command(BaseCommand):
    help = "Create an API key for a project (creating the organisation and project when missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation name")
        parser.add_argument("--project", required=True, help="project name")
        parser.add_argument("--scope", required=True, choices=[s.value for s in ApiKeyScope])
        parser.add_argument("--name", default="", help="a label for the key")
        parser.add_argument(
            "--country", default="", help="project default country (ISO alpha-3), when creating it"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        with transaction.atomic():
            org, org_created = Organisation.objects.get_or_create(name=opts["org"])
            project, project_created = Project.objects.get_or_create(
                organisation=org,
                name=opts["project"],
                defaults={"country": opts["country"].upper()},
            )
            key, plain = ApiKey.issue(
                project, opts["scope"], opts["name"] or "created by create_api_key"
            )
        if org_created:
            self.stderr.write(f"Created organisation {org.name!r}.")
        if project_created:
            self.stderr.write(f"Created project {project.name!r} ({project.uuid}).")
        self.stderr.write(
            f"Key {key.prefix}… with scope {key.scope}; it is shown once and stored hashed:"
        )
        self.stdout.write(plain)
