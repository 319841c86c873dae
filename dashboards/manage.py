"""Management pages: projects, API keys, the public link, members and factor datasets.

Everyone in the organisation may look (a viewer sees how things are set up); only
owners and admins change anything (``dashboards.access.MANAGE_ROLE``), and only owners
touch the owner role. Objects named in a URL are looked up within the page's
organisation (``OrgAccess.project``, ``api.access.get_or_404``).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import carbon
from api.access import get_or_404
from api.aggregates import mixed_bases
from api.models import ApiKey, EmissionFactor, FactorBasis, Membership, Project, Role
from api.tasks import apply_organisation_basis
from dashboards.access import MANAGE_ROLE, OrgAccess, org_access
from dashboards.forms import KeyForm, MemberForm, ProjectForm
from dashboards.views import page


def org_settings_context(
    access: OrgAccess, project_form: ProjectForm | None = None
) -> dict[str, Any]:
    org = access.org
    in_use = (
        EmissionFactor.objects.filter(runs__project__organisation=org)
        .distinct()
        .order_by("dataset_version", "zone", "kind")
    )
    return {
        "access": access,
        "org": org,
        "projects": access.projects(),
        "members": Membership.objects.filter(organisation=org)
        .select_related("user")
        .order_by("user__username"),
        "datasets": carbon.list_datasets(),
        "factors": list(in_use),
        "project_form": project_form or ProjectForm(organisation=org),
        "member_form": MemberForm(),
        "roles": Role.choices,
        "mixed_bases": mixed_bases(org),
        "bases": [
            (value, label, carbon.BASIS_DESCRIPTIONS[value]) for value, label in FactorBasis.choices
        ],
    }


@login_required
@require_GET
def org_settings(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    return page(request, "dashboards/org_settings.html", org_settings_context(access))


@login_required
@require_POST
def project_new(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id, MANAGE_ROLE)
    form = ProjectForm(request.POST, organisation=access.org)
    if not form.is_valid():
        return page(
            request, "dashboards/org_settings.html", org_settings_context(access, form), status=400
        )
    project = form.save(commit=False)
    project.organisation = access.org
    project.save()
    messages.success(request, f"Project {project.name} created. Create an ingest key for it below.")
    return redirect("dash:project-settings", org_id=access.org.uuid, project_id=project.uuid)


def project_settings_context(access: OrgAccess, project: Project, **extra: Any) -> dict[str, Any]:
    return {
        "access": access,
        "org": access.org,
        "project": project,
        "form": ProjectForm(instance=project, organisation=access.org),
        "key_form": KeyForm(),
        "keys": project.api_keys.select_related("created_by").order_by("revoked_at", "-created"),
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, org_id: str, project_id: str) -> HttpResponse:
    if request.method == "POST":
        access = org_access(request, org_id, MANAGE_ROLE)
        project = access.project(project_id)
        form = ProjectForm(request.POST, instance=project, organisation=access.org)
        if not form.is_valid():
            context = project_settings_context(access, project, form=form)
            return page(request, "dashboards/project_settings.html", context, status=400)
        form.save()
        messages.success(
            request,
            "Project saved. New runs use these location defaults; existing runs keep theirs.",
        )
        return redirect("dash:project-settings", org_id=access.org.uuid, project_id=project.uuid)
    access = org_access(request, org_id)
    project = access.project(project_id)
    return page(
        request, "dashboards/project_settings.html", project_settings_context(access, project)
    )


@login_required
@require_POST
def key_new(request: HttpRequest, org_id: str, project_id: str) -> HttpResponse:
    """Issue a key and show it in this response only: it is stored hashed and never again
    readable, so it is not put in a message or the session either."""
    access = org_access(request, org_id, MANAGE_ROLE)
    project = access.project(project_id)
    form = KeyForm(request.POST)
    if not form.is_valid():
        context = project_settings_context(access, project, key_form=form)
        return page(request, "dashboards/project_settings.html", context, status=400)
    key, plain = ApiKey.issue(
        project, form.cleaned_data["scope"], form.cleaned_data["name"], created_by=request.user
    )
    context = project_settings_context(access, project, new_key=key, new_key_plain=plain)
    response = page(request, "dashboards/project_settings.html", context, status=201)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def key_revoke(request: HttpRequest, org_id: str, key_id: str) -> HttpResponse:
    access = org_access(request, org_id, MANAGE_ROLE)
    key = get_or_404(
        ApiKey.objects.select_related("project").filter(project__organisation=access.org),
        key_id,
        message="No such key in this organisation.",
    )
    if key.is_active:
        key.revoke()
        messages.success(request, f"Key {key.prefix}… revoked; clients using it now get 401.")
    return redirect("dash:project-settings", org_id=access.org.uuid, project_id=key.project.uuid)


@login_required
@require_POST
def public_link(request: HttpRequest, org_id: str, project_id: str) -> HttpResponse:
    access = org_access(request, org_id, MANAGE_ROLE)
    project = access.project(project_id)
    if request.POST.get("action") == "enable":
        # A fresh token each time, so re-enabling does not revive a link shared earlier.
        project.public_token = secrets.token_urlsafe(32)
        messages.success(
            request, "Public link enabled: anyone with it can read this project's page."
        )
    else:
        project.public_token = None
        messages.success(request, "Public link disabled; the old link now answers 404.")
    project.save(update_fields=["public_token"])
    return redirect("dash:project-settings", org_id=access.org.uuid, project_id=project.uuid)


def _check_role_change(access: OrgAccess, target: Membership | None, new_role: str | None) -> None:
    """Admins manage members below owner; only owners grant, change or remove owners; the
    last owner stays."""
    touches_owner = new_role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and not access.is_owner:
        raise PermissionDenied("Only an owner may grant, change or remove the owner role.")
    if target is not None and target.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.objects.filter(organisation=access.org, role=Role.OWNER).count()
        if owners <= 1:
            raise PermissionDenied("This is the last owner: make someone else owner first.")


@login_required
@require_POST
def member_add(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id, MANAGE_ROLE)
    form = MemberForm(request.POST)
    if not form.is_valid():
        context = org_settings_context(access)
        context["member_form"] = form
        return page(request, "dashboards/org_settings.html", context, status=400)
    user, role = form.cleaned_data["user"], form.cleaned_data["role"]
    _check_role_change(access, None, role)
    _, created = Membership.objects.get_or_create(
        user=user, organisation=access.org, defaults={"role": role}
    )
    if created:
        messages.success(request, f"{user.get_username()} added as {role}.")
    else:
        messages.info(
            request, f"{user.get_username()} is already a member; change their role below."
        )
    return redirect(reverse("dash:settings", args=[access.org.uuid]) + "#members")


@login_required
@require_POST
def member_change(request: HttpRequest, org_id: str) -> HttpResponse:
    """Change a member's role, or remove them (``action=remove``)."""
    access = org_access(request, org_id, MANAGE_ROLE)
    with transaction.atomic():
        target = (
            Membership.objects.select_for_update()
            .select_related("user")
            .filter(organisation=access.org, user__username=request.POST.get("user", ""))
            .first()
        )
        if target is None:
            raise Http404("No such member.")
        name = target.user.get_username()
        if request.POST.get("action") == "remove":
            _check_role_change(access, target, None)
            target.delete()
            messages.success(request, f"{name} removed from {access.org.name}.")
        else:
            role = request.POST.get("role", "")
            if role not in Role.values:
                messages.error(request, f"{role!r} is not a role.")
            else:
                _check_role_change(access, target, role)
                target.role = role
                target.save(update_fields=["role"])
                messages.success(request, f"{name} is now {role}.")
    if target.user_id == request.user.pk and request.POST.get("action") == "remove":
        return redirect("dash:home")
    return redirect(reverse("dash:settings", args=[access.org.uuid]) + "#members")


@login_required
@require_POST
def basis_change(request: HttpRequest, org_id: str) -> HttpResponse:
    """Choose the factor basis of every figure; the factors are re-applied in the background."""
    access = org_access(request, org_id, MANAGE_ROLE)
    basis = request.POST.get("basis", "")
    if basis not in FactorBasis.values:
        messages.error(request, f"{basis!r} is not a factor basis: choose direct or lifecycle.")
    elif basis == access.org.basis:
        messages.info(request, f"Figures are already on the {carbon.BASIS_LABELS[basis]} basis.")
    else:
        org_pk = access.org.pk
        transaction.on_commit(lambda: apply_organisation_basis.delay(org_pk, basis))
        messages.success(
            request,
            f"Re-applying every factor on the {carbon.BASIS_LABELS[basis]} basis; "
            "pages and reports show the new figures once it is done.",
        )
    return redirect(reverse("dash:settings", args=[access.org.uuid]) + "#basis")
