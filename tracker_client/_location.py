"""Where the job runs: explicit settings, else the cloud metadata services, else unknown.

Detection asks AWS IMDSv2, GCP and Azure IMDS in parallel with one short deadline
(0.3 s in all) and is skipped when ``EMISSIONS_HUB_NO_CLOUD_DETECT=1``. There is no
guess: an unknown location is sent as null and the hub applies its world average and
flags the run.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("tracker_client")

METADATA_HOST = "169.254.169.254"
DETECT_TIMEOUT_S = 0.3

# fetch(method, url, headers, timeout) -> body text; raises on any failure
Fetch = Callable[[str, str, dict[str, str], float], str]


def _urllib_fetch(method: str, url: str, headers: dict[str, str], timeout: float) -> str:
    req = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - http only
    # No proxy: metadata services are link-local and must not go through one.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as resp:
        return str(resp.read(4096).decode("utf-8", "replace")).strip()


def _aws(fetch: Fetch, timeout: float) -> tuple[str, str] | None:
    token = fetch(
        "PUT",
        f"http://{METADATA_HOST}/latest/api/token",
        {"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        timeout,
    )
    region = fetch(
        "GET",
        f"http://{METADATA_HOST}/latest/meta-data/placement/region",
        {"X-aws-ec2-metadata-token": token},
        timeout,
    )
    return ("aws", region) if region else None


def _gcp(fetch: Fetch, timeout: float) -> tuple[str, str] | None:
    zone = fetch(
        "GET",
        f"http://{METADATA_HOST}/computeMetadata/v1/instance/zone",
        {"Metadata-Flavor": "Google"},
        timeout,
    )
    # "projects/123/zones/europe-west1-b" -> "europe-west1"
    name = zone.rsplit("/", 1)[-1]
    return ("gcp", name.rsplit("-", 1)[0]) if "-" in name else None


def _azure(fetch: Fetch, timeout: float) -> tuple[str, str] | None:
    location = fetch(
        "GET",
        f"http://{METADATA_HOST}/metadata/instance/compute/location"
        "?api-version=2021-02-01&format=text",
        {"Metadata": "true"},
        timeout,
    )
    return ("azure", location) if location else None


def detect_cloud(
    fetch: Fetch | None = None, timeout_s: float = DETECT_TIMEOUT_S
) -> tuple[str, str] | None:
    """(provider, region) from the metadata services, or None within ``timeout_s``."""
    fetch = fetch or _urllib_fetch
    found: list[tuple[str, str]] = []
    done = threading.Event()

    def probe(fn: Callable[[Fetch, float], tuple[str, str] | None]) -> None:
        try:
            answer = fn(fetch, timeout_s)
        except Exception:
            return
        if answer:
            found.append(answer)
            done.set()

    threads = [
        threading.Thread(target=probe, args=(fn,), daemon=True) for fn in (_aws, _gcp, _azure)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or done.is_set():
            break
        t.join(remaining)
    return found[0] if found else None


def resolve_location(
    settings: dict[str, Any],
    detect: bool,
    fetch: Fetch | None = None,
) -> dict[str, Any]:
    """Fill country/region/cloud_* in a create-run payload; log what was decided."""
    keys = ("country", "region", "cloud_provider", "cloud_region")
    given = {k: settings.get(k) for k in keys}
    if any(given.values()):
        return given
    if detect:
        found = detect_cloud(fetch)
        if found:
            logger.info("tracker_client: location: %s region %s (cloud metadata)", *found)
            return {**given, "cloud_provider": found[0], "cloud_region": found[1]}
    logger.warning(
        "tracker_client: location not set (no country/region/cloud setting%s); the hub will "
        "use the project's default location, or else its world-average factor and flag the "
        "run. Set EMISSIONS_HUB_COUNTRY (e.g. FRA) "
        "or EMISSIONS_HUB_CLOUD_PROVIDER and EMISSIONS_HUB_CLOUD_REGION.",
        "" if detect else ", cloud detection off",
    )
    return given
