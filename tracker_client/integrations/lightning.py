"""PyTorch Lightning callback: one tracked run per ``trainer.fit``."""

from __future__ import annotations

import logging
import numbers
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef,assignment]

from .._tracker import Tracker

logger = logging.getLogger("tracker_client")


def _numeric(metrics: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in dict(metrics).items():
        try:
            number = value.item() if hasattr(value, "item") else value
            if isinstance(number, numbers.Real):
                out[str(key)] = float(number)
        except Exception:  # noqa: S112 - a metric that is not a number is just left out
            continue
    return out


class EmissionsHubCallback(Callback):  # type: ignore[misc]
    """Tracks ``fit``: epochs from ``trainer.max_epochs``, final ``callback_metrics``.

    Pass a started or unstarted :class:`~tracker_client.Tracker`, or the Tracker's
    options (``EmissionsHubCallback(experiment="bert")``).
    """

    def __init__(self, tracker: Tracker | None = None, **tracker_options: Any) -> None:
        super().__init__()
        self.tracker = tracker
        self._options = tracker_options
        self._owned = tracker is None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is None:
            options = dict(self._options)
            max_epochs = getattr(trainer, "max_epochs", None)
            if options.get("epochs_total") is None and max_epochs and max_epochs > 0:
                options["epochs_total"] = int(max_epochs)
            self.tracker = Tracker(**options)
        self.tracker.start()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is not None and not getattr(trainer, "sanity_checking", False):
            self.tracker.epoch_end()

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is None:
            return
        self.tracker.log_metrics(_numeric(getattr(trainer, "callback_metrics", {})))
        if self._owned:
            self.tracker.stop("finished")

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.tracker is not None and self._owned:
            self.tracker.stop("failed")
