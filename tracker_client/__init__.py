"""Emissions Hub client: measure a training process's energy and deliver it to the hub.

Three lines::

    from tracker_client import Tracker
    with Tracker(experiment="bert-finetune"):
        train()

Importing this package is cheap: requests, psutil and pynvml load when a tracker starts.
"""

from __future__ import annotations

from ._tracker import Tracker, track

__version__ = "0.1.0"

__all__ = ["Tracker", "__version__", "track"]
