"""Who may open which page: every dashboard URL carries an organisation uuid, and the
signed-in user's membership of that organisation decides what they see and may change."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from api.models import Membership, Organisation, Project, Role

# Owners and admins manage projects, keys and members; members and viewers read.
MANAGE_ROLE = Role.ADMIN


def parse_uuid(value: Any) -> uuidlib.UUID:
    """A public id from a URL; anything else is a 404, like an id that does not exist."""
    try:
        return uuidlib.UUID(str(value))
    except ValueError as exc:
        raise Http404 from exc


@dataclass
class OrgAccess:
    """The organisation of the page and the viewer's membership of it."""

    org: Organisation
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def can_manage(self) -> bool:
        return self.membership.can(MANAGE_ROLE)

    @property
    def is_owner(self) -> bool:
        return self.membership.role == Role.OWNER

    def projects(self) -> QuerySet[Project]:
        return Project.objects.filter(organisation=self.org)


def org_access(request: HttpRequest, org_id: Any, role: str = Role.VIEWER) -> OrgAccess:
    """The organisation and membership for a page; 404 for non-members (whether the
    organisation exists is not revealed), 403 for members below ``role``."""
    user = request.user
    if not user.is_authenticated:
        raise Http404("Sign in first.")
    m = (
        Membership.objects.select_related("organisation")
        .filter(organisation__uuid=parse_uuid(org_id), user=user)
        .first()
    )
    if m is None:
        raise Http404("No such organisation among yours.")
    if not m.can(role):
        raise PermissionDenied(f"This needs the {role} role or higher; yours is {m.role}.")
    return OrgAccess(m.organisation, m)


def user_organisations(user: Any) -> list[Organisation]:
    """The organisations of the switcher, by name."""
    return list(Organisation.objects.filter(memberships__user_id=user.pk).order_by("name"))
