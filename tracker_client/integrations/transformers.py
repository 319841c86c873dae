"""Hugging Face Transformers ``TrainerCallback``: one tracked run per ``trainer.train()``."""

from __future__ import annotations

import numbers
from typing import Any

from transformers import TrainerCallback

from .._tracker import Tracker


class EmissionsHubCallback(TrainerCallback):  # type: ignore[misc]
    """Tracks ``Trainer.train``: epochs from ``num_train_epochs``, last logged metrics.

    ``Trainer(..., callbacks=[EmissionsHubCallback(experiment="bert")])``.
    """

    def __init__(self, tracker: Tracker | None = None, **tracker_options: Any) -> None:
        self.tracker = tracker
        self._options = tracker_options
        self._owned = tracker is None
        self._logs: dict[str, float] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.tracker is None:
            options = dict(self._options)
            epochs = float(getattr(args, "num_train_epochs", 0) or 0)
            by_steps = (getattr(args, "max_steps", -1) or -1) > 0
            if (
                options.get("epochs_total") is None
                and epochs.is_integer()
                and epochs > 0
                and not by_steps
            ):
                options["epochs_total"] = int(epochs)
            self.tracker = Tracker(**options)
        self.tracker.start()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.tracker is not None:
            self.tracker.epoch_end()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for key, value in (logs or {}).items():
            if isinstance(value, numbers.Real):
                self._logs[str(key)] = float(value)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.tracker is None:
            return
        self.tracker.log_metrics(self._logs)
        if self._owned:
            self.tracker.stop("finished")
