"""Public ids to objects: the one lookup of the API, the pages and the reports.

Every URL names its objects by their public uuid. :func:`get_or_404` finds one among a
queryset that is already limited to what the caller may see (``Organisation.objects
.for_user``, ``Project.objects.for_user``, ``Run.objects.visible_to``, or the request's
view in :mod:`api.auth`), so that another organisation's object, a missing one and an id
that is not a uuid at all answer the same 404. :func:`public_id` is the same rule for an
id that filters a list instead of naming one object.

Who may see what is decided by those QuerySet methods (``api/models.py``) and, for a
request that may carry an API key, by :func:`api.auth.visible_projects` and
:func:`api.auth.visible_organisations`; this module only looks up.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404

M = TypeVar("M", bound=Model)


def public_id(value: Any) -> uuidlib.UUID:
    """A public id from a URL or a query parameter; anything that is not a uuid is a 404,
    like an id that does not exist."""
    if isinstance(value, uuidlib.UUID):
        return value
    try:
        return uuidlib.UUID(str(value))
    except ValueError as exc:
        raise Http404 from exc


def get_or_404(
    queryset: QuerySet[M], value: Any, *, field: str = "uuid", message: str | None = None
) -> M:
    """The object of ``queryset`` whose ``field`` (its public ``uuid``, or e.g.
    ``organisation__uuid``) is ``value``; 404 when there is none or ``value`` is no uuid.

    ``queryset`` decides visibility: pass one already limited to what the caller may see.
    ``message`` is the 404's text (shown only in debug pages and logs)."""
    obj = queryset.filter(**{field: public_id(value)}).first()
    if obj is None:
        raise Http404(message) if message else Http404
    return obj
