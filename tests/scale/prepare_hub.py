"""Migrate the scratch database of the scale-out test and seed it; print what was made.

Run as ``python tests/scale/prepare_hub.py`` with DATABASE_URL (and the rest of the
environment of the hub) set; the last line of stdout is a JSON object: the organisation and
project ids, an ingest key (plain, shown once as by ``create_api_key``), its id, and an
admin of the organisation who may revoke it on the dashboards.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emissions_hub.settings")


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import transaction

    from api.models import ApiKey, Membership, Organisation, Project, Role

    call_command("migrate", interactive=False, verbosity=0)
    with transaction.atomic():
        org = Organisation.objects.create(name="Scale-out Labs")
        project = Project.objects.create(organisation=org, name="fleet", country="FRA")
        key, plain = ApiKey.issue(project, "ingest", "fleet")
        password = secrets.token_urlsafe(16)
        admin = User.objects.create_user(username="admin@scale.test", password=password)
        Membership.objects.create(user=admin, organisation=org, role=Role.ADMIN)
    print(
        json.dumps(
            {
                "org": str(org.uuid),
                "project": str(project.uuid),
                "project_pk": project.pk,
                "key": plain,
                "key_id": str(key.uuid),
                "username": admin.username,
                "password": password,
            }
        )
    )


if __name__ == "__main__":
    main()
