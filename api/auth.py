"""API-key authentication and the rules of who may see and do what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api.models import ApiKey, ApiKeyScope, Membership, Organisation, Project, Role

# last_used is written at most this often per key, to keep hot ingestion cheap.
LAST_USED_RESOLUTION_S = 60


@dataclass
class KeyPrincipal:
    """The identity behind an API key: one project, one scope."""

    key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def project(self) -> Project:
        return self.key.project

    @property
    def pk(self) -> None:
        return None

    def __str__(self) -> str:
        return f"key {self.key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>``. A wrong or revoked key is a 401."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[KeyPrincipal, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization must be 'Bearer <api key>'.")
        return authenticate_key(header[1].decode("latin-1"))

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing.
        return 'Bearer realm="api"'


def authenticate_key(plain: str) -> tuple[KeyPrincipal, ApiKey]:
    """Look up a presented key; raise 401 when unknown or revoked; touch last_used."""
    key = ApiKey.lookup(plain.strip())
    if key is None:
        raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
    now = timezone.now()
    if key.last_used is None or (now - key.last_used).total_seconds() > LAST_USED_RESOLUTION_S:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)
        key.last_used = now
    return KeyPrincipal(key), key


def key_of(request: Request | Any) -> ApiKey | None:
    """The API key of the request, if it authenticated with one."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


def visible_projects(request: Request | Any) -> QuerySet[Project]:
    """Projects the request may read: a key's own project, or the user's organisations'."""
    key = key_of(request)
    if key is not None:
        return Project.objects.filter(pk=key.project_id)
    return Project.objects.for_user(request.user).select_related("organisation")


def visible_organisations(request: Request | Any) -> QuerySet[Organisation]:
    """Organisations the request may read."""
    key = key_of(request)
    if key is not None:
        return Organisation.objects.filter(pk=key.project.organisation_id)
    if not getattr(request.user, "is_authenticated", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(memberships__user_id=int(request.user.pk or 0))


def require_ingest_key(request: Request | Any) -> ApiKey:
    """The request's ingest key; 403 for a read key or a signed-in user."""
    key = key_of(request)
    if key is None:
        raise exceptions.PermissionDenied("Writing data needs an API key with the 'ingest' scope.")
    if key.scope != ApiKeyScope.INGEST:
        raise exceptions.PermissionDenied(
            "This API key is read-only; use a key with the 'ingest' scope."
        )
    return key


def membership(user: Any, organisation: Organisation) -> Membership | None:
    """The user's membership of an organisation, or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user, organisation=organisation).first()


def has_role(user: Any, organisation: Organisation, role: str = Role.VIEWER) -> bool:
    """True when the user is a member with at least that role."""
    m = membership(user, organisation)
    return m is not None and m.can(role)
