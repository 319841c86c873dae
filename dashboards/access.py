"""Who may open which page: every dashboard URL carries an organisation uuid, and the
signed-in user's membership of that organisation decides what they see and may change.

Owns: :func:`org_access` (the organisation of a page and the viewer's role in it, 404
for a non-member), :class:`OrgAccess` (its projects and the lookup of one object of the
organisation by public id), :data:`MANAGE_ROLE` and :func:`user_organisations` (the
switcher). The membership rule itself is ``Organisation.objects.for_user`` /
``Project.objects.for_user`` (``api/models.py``); a public id is looked up with
``api.access.get_or_404``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from api.access import get_or_404
from api.models import Experiment, Membership, Organisation, Project, Role, Run

# Owners and admins manage projects, keys and members; members and viewers read.
MANAGE_ROLE = Role.ADMIN


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

    def project(self, project_id: Any) -> Project:
        """One project of this organisation by public id; 404 otherwise."""
        return get_or_404(
            self.projects(), project_id, message="No such project in this organisation."
        )

    def experiment(self, experiment_id: Any) -> Experiment:
        return get_or_404(
            Experiment.objects.select_related("project").filter(project__organisation=self.org),
            experiment_id,
            message="No such experiment in this organisation.",
        )

    def run(self, run_id: Any) -> Run:
        return get_or_404(
            Run.objects.select_related("project", "experiment", "factor").filter(
                project__organisation=self.org
            ),
            run_id,
            message="No such run in this organisation.",
        )


def org_access(request: HttpRequest, org_id: Any, role: str = Role.VIEWER) -> OrgAccess:
    """The organisation and membership for a page; 404 for non-members (whether the
    organisation exists is not revealed), 403 for members below ``role``."""
    user = request.user
    if not user.is_authenticated:
        raise Http404("Sign in first.")
    m = get_or_404(
        Membership.objects.select_related("organisation").filter(user=user),
        org_id,
        field="organisation__uuid",
        message="No such organisation among yours.",
    )
    if not m.can(role):
        raise PermissionDenied(f"This needs the {role} role or higher; yours is {m.role}.")
    return OrgAccess(m.organisation, m)


def user_organisations(user: Any) -> list[Organisation]:
    """The organisations of the switcher, by name."""
    return list(Organisation.objects.for_user(user).order_by("name"))
