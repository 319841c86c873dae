from __future__ import annotations

import logging
import time

from tracker_client._location import detect_cloud, resolve_location

NULL = {"country": None, "region": None, "cloud_provider": None, "cloud_region": None}


def fake_metadata(provider):
    def fetch(method, url, headers, timeout):
        assert url.startswith("http://169.254.169.254/") and timeout <= 0.3
        if provider == "aws" and "latest" in url:
            return "token" if method == "PUT" else "eu-west-3"
        if provider == "gcp" and headers.get("Metadata-Flavor") == "Google":
            return "projects/1/zones/europe-west1-b"
        if provider == "azure" and headers.get("Metadata") == "true":
            return "westeurope"
        raise OSError("no route")

    return fetch


def test_explicit_settings_win_and_nothing_is_probed():
    def explode(*a):
        raise AssertionError("probed")

    got = resolve_location({**NULL, "country": "FRA"}, detect=True, fetch=explode)
    assert got["country"] == "FRA"


def test_each_cloud_is_recognised_from_its_metadata_service():
    assert detect_cloud(fake_metadata("aws")) == ("aws", "eu-west-3")
    assert detect_cloud(fake_metadata("gcp")) == ("gcp", "europe-west1")
    assert detect_cloud(fake_metadata("azure")) == ("azure", "westeurope")
    assert detect_cloud(fake_metadata("none")) is None


def test_detection_gives_up_within_its_deadline():
    def slow(method, url, headers, timeout):
        time.sleep(2)
        return "late"

    t0 = time.monotonic()
    assert detect_cloud(slow, timeout_s=0.2) is None
    assert time.monotonic() - t0 < 0.5


def test_an_unknown_location_is_sent_as_null_and_said_in_the_log(caplog):
    caplog.set_level(logging.WARNING, logger="tracker_client")
    assert resolve_location(dict(NULL), detect=False) == NULL
    assert "location not set" in caplog.text and "world-average" in caplog.text
    got = resolve_location(dict(NULL), detect=True, fetch=fake_metadata("gcp"))
    assert got == {**NULL, "cloud_provider": "gcp", "cloud_region": "europe-west1"}
