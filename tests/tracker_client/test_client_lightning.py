from __future__ import annotations

import sys
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tracker_client.integrations.lightning import EmissionsHubCallback

API_KEY = "ehi_test_key"


class TinyModel(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_importing_the_client_does_not_import_torch():
    import subprocess

    code = "import sys, tracker_client; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_lightning_callback_tracks_a_fit_with_its_epochs(hub, sensors_factory, monkeypatch):
    monkeypatch.setattr("tracker_client._records.MIN_TAIL_S", 0.0)  # epochs of milliseconds
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    callback = EmissionsHubCallback(
        experiment="lightning",
        hub_url=hub.url,
        api_key=API_KEY,
        country="FRA",
        interval_s=60,
        sensors=sensors_factory(),
    )
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
    )
    trainer.fit(TinyModel(), DataLoader(data, batch_size=8))
    run = next(iter(hub.runs.values()))
    assert run["payload"]["epochs_total"] == 3
    # only the latest prediction matters: a newer one replaces one not yet sent
    assert hub.predictions[-1][1]["epochs_done"] == 3
    assert {m["epoch"] for m in hub.measurements.values()} >= {0, 1, 2}
    finish = hub.finishes[-1][1]
    assert finish["status"] == "finished" and "train_loss" in finish["metrics"]
    hub.assert_contiguous()
