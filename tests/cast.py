"""The shared cast of the test suite: two organisations, a user of each role in the first,
an owner in the second, and keys of each scope on a project of each organisation.

Every test that needs data takes the ``cast`` fixture (see :class:`Cast`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from api.models import ApiKey, Membership, Organisation, Project, Role


@dataclass
class Cast:
    org: Organisation
    other_org: Organisation
    project: Project
    other_project: Project
    users: dict[str, User]
    outsider: User
    ingest_key: str
    read_key: str
    other_ingest_key: str
    other_read_key: str
    extra: dict[str, Any] = field(default_factory=dict)

    def client_for(self, role: str) -> Client:
        """A Django test client signed in as the user with that role in ``org``."""
        c = Client()
        c.force_login(self.users[role])
        return c


def api(
    client: Client, method: str, path: str, key: str | None = None, body: Any = None, **extra: Any
) -> Any:
    """Call the API with a bearer key and a JSON body; return the response."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    fn = getattr(client, method.lower())
    if body is None:
        return fn(path, **headers, **extra)
    return fn(path, data=json.dumps(body), content_type="application/json", **headers, **extra)


def measurement(
    start: datetime | None = None,
    duration_s: float = 10.0,
    cpu_kwh: float = 0.001,
    gpu_kwh: float = 0.002,
    ram_kwh: float = 0.0001,
    **over: Any,
) -> dict[str, Any]:
    """A valid measurement dict; override any field with keyword arguments."""
    start = start or (datetime.now(UTC) - timedelta(hours=1))
    end = start + timedelta(seconds=duration_s)
    item: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "seq": 0,
        "node": "node-a",
        "rank": 0,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "duration_s": duration_s,
        "cpu_energy_kwh": cpu_kwh,
        "gpu_energy_kwh": gpu_kwh,
        "ram_energy_kwh": ram_kwh,
        "cpu_method": "rapl",
        "gpu_method": "nvml_energy",
        "ram_method": "constant",
        "gpu_count": 1,
    }
    item.update(over)
    return item


def make_cast() -> Cast:
    org = Organisation.objects.create(name="Acme AI")
    other = Organisation.objects.create(name="Globex Research")
    project = Project.objects.create(organisation=org, name="vision", country="FRA")
    other_project = Project.objects.create(organisation=other, name="secret-llm", country="DEU")
    users = {}
    for role in (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER):
        u = User.objects.create_user(username=f"{role}@acme.test", password="pw-12345678")
        Membership.objects.create(user=u, organisation=org, role=role)
        users[str(role)] = u
    outsider = User.objects.create_user(username="owner@globex.test", password="pw-12345678")
    Membership.objects.create(user=outsider, organisation=other, role=Role.OWNER)
    _, ingest = ApiKey.issue(project, "ingest", "ci")
    _, read = ApiKey.issue(project, "read", "ci")
    _, other_ingest = ApiKey.issue(other_project, "ingest", "ci")
    _, other_read = ApiKey.issue(other_project, "read", "ci")
    return Cast(
        org, other, project, other_project, users, outsider, ingest, read, other_ingest, other_read
    )
