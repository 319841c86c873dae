"""Callbacks for training frameworks. Import the submodule you need:

``from tracker_client.integrations.lightning import EmissionsHubCallback`` or
``from tracker_client.integrations.transformers import EmissionsHubCallback``.
Nothing here is imported by ``import tracker_client``, so torch stays unloaded.
"""

from __future__ import annotations
