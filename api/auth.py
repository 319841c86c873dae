"""API-key authentication, and a request's view of the hub: what it may see and do.

Owns: authenticating a key (``Authorization: Bearer``; the CodeCarbon endpoints reuse it),
the in-process key cache, the visibility of a request (:func:`visible_projects`,
:func:`visible_organisations`: a key's own project, or the signed-in user's
organisations through ``Organisation.objects.for_user`` / ``Project.objects.for_user``),
the ingest-scope check and a user's role in an organisation. Looking one object up among
the visible ones by its public id is :func:`api.access.get_or_404`.

Keys travel in headers only: a key-looking query parameter on an API path is refused with
a 400 (:class:`KeyInUrlMiddleware`), because a URL lands in access logs.

Looked-up keys are cached in process (see :class:`KeyCache`): a revoked key is refused by
every web process within ``API_KEY_CACHE_S`` seconds, and at once by the process that
revoked it.
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api.models import KEY_PATTERN, ApiKey, ApiKeyScope, Membership, Organisation, Project, Role
from emissions_hub.middleware import is_api_path

# last_used is written at most this often per key, to keep hot ingestion cheap.
LAST_USED_RESOLUTION_S = 60
# Entries each of the two caches (known keys, refused keys) holds at most per process.
KEY_CACHE_MAX_ENTRIES = 10_000


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


# --- never in a URL -------------------------------------------------------------------

# Query parameters under which clients (or people) commonly put a key.
KEY_PARAMETERS = frozenset(
    {"api_key", "apikey", "api-key", "key", "token", "access_token", "x-api-token", "auth"}
)
KEY_IN_URL_MESSAGE = (
    "API keys are not accepted in the URL (query parameter {name!r}): send the key in the "
    "Authorization (Bearer) or x-api-token header; a key in a URL lands in access logs. "
    "If that was a real key, revoke it and use a new one."
)


# A whole key inside a value (not the start of a longer word such as an "ehr_..." name).
KEY_RE = re.compile(rf"(?<![A-Za-z0-9_-]){KEY_PATTERN}(?![A-Za-z0-9_-])")


def key_parameter(query: Any) -> str | None:
    """The name of the first query parameter that carries, or looks meant to carry, a key."""
    for name, values in query.lists():
        if name.lower() in KEY_PARAMETERS or any(KEY_RE.search(v) for v in values):
            return str(name)
    return None


class KeyInUrlMiddleware:
    """Answer 400 to an API request with a key-looking query parameter, before anything
    else reads it (the key is never looked up)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path) and request.GET:
            name = key_parameter(request.GET)
            if name is not None:
                return JsonResponse(
                    {"error": "invalid", "message": KEY_IN_URL_MESSAGE.format(name=name)},
                    status=400,
                )
        return self.get_response(request)


# --- the key cache -------------------------------------------------------------------------

# The clock of the cache; a test may replace it.
clock: Callable[[], float] = time.monotonic


@dataclass
class _Entry:
    expires: float
    key: ApiKey | None  # None: the presented key is unknown or revoked


def cache_seconds() -> float:
    """How long a looked-up key is trusted (``settings.API_KEY_CACHE_S``); 0 disables."""
    return max(float(getattr(settings, "API_KEY_CACHE_S", 5)), 0.0)


def key_hash(plain: str) -> str:
    """The cache's name for a presented key: its SHA-256, so no plain key is held."""
    return hashlib.sha256(plain.encode("utf-8", "surrogateescape")).hexdigest()


class KeyCache:
    """Looked-up keys by the SHA-256 of the presented key, each for a fixed time.

    An entry lives ``API_KEY_CACHE_S`` seconds from its lookup, however often it is used,
    so a key revoked by another process (or directly in the database) is refused here
    within that time. Refused keys are kept too, apart, so that a fleet still sending a
    revoked key, or a flood of wrong keys, costs one query per key and period and cannot
    push the good keys out. A newly issued key is never shadowed by a refusal: entries
    are keyed by the whole presented key, and a new key is a fresh random string that
    nobody can have presented before. Thread-safe; the lookup itself runs outside the lock.
    """

    def __init__(self, max_entries: int = KEY_CACHE_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._known: OrderedDict[str, _Entry] = OrderedDict()
        self._refused: OrderedDict[str, _Entry] = OrderedDict()
        # Counts evictions, so that a lookup that began before one does not store what
        # it read (the row as it stood before a revocation in this process).
        self.generation = 0

    def get(self, digest: str, now: float) -> _Entry | None:
        with self._lock:
            for store in (self._known, self._refused):
                entry = store.get(digest)
                if entry is not None:
                    if entry.expires > now:
                        return entry
                    del store[digest]
        return None

    def put(
        self, digest: str, key: ApiKey | None, expires: float, generation: int | None = None
    ) -> None:
        """Store a lookup's result; a key read before the latest eviction is not stored."""
        with self._lock:
            if key is not None and generation is not None and generation != self.generation:
                return
            store, other = (
                (self._known, self._refused) if key is not None else (self._refused, self._known)
            )
            other.pop(digest, None)
            store.pop(digest, None)
            store[digest] = _Entry(expires, key)
            while len(store) > self.max_entries:
                store.popitem(last=False)

    def evict(self, match: Callable[[ApiKey], bool]) -> int:
        """Drop the known keys that ``match``; return how many."""
        with self._lock:
            self.generation += 1
            gone = [d for d, e in self._known.items() if e.key is not None and match(e.key)]
            for d in gone:
                del self._known[d]
        return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
            self._refused.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._known) + len(self._refused)


key_cache = KeyCache()


def _detached(key: ApiKey) -> ApiKey:
    """A copy of a cached key, with its own copies of its project and organisation, so that
    what one request sets on them is never seen by another thread."""
    project = copy.copy(key.project)
    project.organisation = copy.copy(key.project.organisation)
    mine = copy.copy(key)
    mine.project = project
    return mine


def lookup_key(plain: str) -> ApiKey | None:
    """``ApiKey.lookup`` through the cache: the active key (project and organisation loaded)
    for a presented plain key, or None."""
    ttl = cache_seconds()
    if not ttl:
        return ApiKey.lookup(plain)
    digest = key_hash(plain)
    entry = key_cache.get(digest, clock())
    if entry is not None:
        return None if entry.key is None else _detached(entry.key)
    fetched_at, generation = clock(), key_cache.generation
    key = ApiKey.lookup(plain)
    if key is not None:
        # Loaded now, so that a cached copy never queries for them.
        key.project.organisation  # noqa: B018
    key_cache.put(digest, key, fetched_at + ttl, generation)
    return None if key is None else _detached(key)


def _touch_last_used(key: ApiKey, digest: str | None) -> None:
    """Write last_used at most every LAST_USED_RESOLUTION_S per key and process."""
    now = timezone.now()
    if (
        key.last_used is not None
        and (now - key.last_used).total_seconds() <= LAST_USED_RESOLUTION_S
    ):
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used=now)
    key.last_used = now
    if digest is not None:
        entry = key_cache.get(digest, clock())
        if entry is not None and entry.key is not None:
            entry.key.last_used = now


def authenticate_key(plain: str) -> tuple[KeyPrincipal, ApiKey]:
    """Look up a presented key; raise 401 when unknown or revoked; touch last_used."""
    plain = plain.strip()
    key = lookup_key(plain)
    if key is None:
        raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
    _touch_last_used(key, key_hash(plain) if cache_seconds() else None)
    return KeyPrincipal(key), key


def evict_key(pk: int | None) -> int:
    """Forget a key in this process's cache (after a revocation or deletion)."""
    return key_cache.evict(lambda k: k.pk == pk)


def _evict_on_key_change(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    pk = instance.pk
    evict_key(pk)
    # Again at commit: a thread of this process could have cached the row as it still
    # stood before the revoking transaction committed.
    transaction.on_commit(lambda: evict_key(pk))


def _evict_project_keys(sender: Any, instance: Project, **kwargs: Any) -> None:
    pk = instance.pk
    key_cache.evict(lambda k: k.project_id == pk)


def _evict_organisation_keys(sender: Any, instance: Organisation, **kwargs: Any) -> None:
    pk = instance.pk
    key_cache.evict(lambda k: k.project.organisation_id == pk)


# Changes made through the ORM in this process take effect here at once; changes made
# elsewhere (another process, a queryset update, SQL) within API_KEY_CACHE_S.
post_save.connect(_evict_on_key_change, sender=ApiKey, dispatch_uid="api.auth.key_saved")
post_delete.connect(_evict_on_key_change, sender=ApiKey, dispatch_uid="api.auth.key_deleted")
post_save.connect(_evict_project_keys, sender=Project, dispatch_uid="api.auth.project_saved")
post_save.connect(
    _evict_organisation_keys, sender=Organisation, dispatch_uid="api.auth.organisation_saved"
)


def key_of(request: Request | Any) -> ApiKey | None:
    """The API key of the request, if it authenticated with one."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


# --- who may see what -------------------------------------------------------------------
# A signed-in user sees the organisations they are a member of and everything in them
# (``Organisation.objects.for_user``, ``Project.objects.for_user``, runs of those projects
# through ``Run.objects.visible_to``); an API key sees its own project and organisation.
# These two functions are a request's view, for the API (which takes keys and sessions);
# pages and reports, which only take sessions, use the QuerySet methods directly. One
# object is looked up among them with ``api.access.get_or_404``.


def visible_projects(request: Request | Any) -> QuerySet[Project]:
    """Projects the request may read: a key's own project, or the user's organisations'."""
    key = key_of(request)
    if key is not None:
        return Project.objects.filter(pk=key.project_id)
    return Project.objects.for_user(request.user).select_related("organisation")


def visible_organisations(request: Request | Any) -> QuerySet[Organisation]:
    """Organisations the request may read: a key's own, or the user's."""
    key = key_of(request)
    if key is not None:
        return Organisation.objects.filter(pk=key.project.organisation_id)
    return Organisation.objects.for_user(request.user)


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
