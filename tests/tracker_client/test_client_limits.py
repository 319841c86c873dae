"""The client checks its settings against the hub's limits before it sends anything; it is
a separate package and cannot import the hub, so these tests hold the copies to the hub's."""

from __future__ import annotations

from api.models import Run
from carbon import MAX_PUE, MIN_PUE
from tracker_client import _config


def test_the_clients_pue_range_is_the_hubs() -> None:
    assert (MIN_PUE, MAX_PUE) == _config.PUE_RANGE


def test_the_clients_name_limit_is_the_hubs() -> None:
    assert Run._meta.get_field("name").max_length == _config.MAX_NAME_CHARS
