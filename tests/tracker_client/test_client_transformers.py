from __future__ import annotations

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from tracker_client.integrations.transformers import EmissionsHubCallback

API_KEY = "ehi_test_key"


class TinyDataset(torch.utils.data.Dataset):
    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 30, (n, 8), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(8, dtype=torch.long),
            "labels": self.labels[i],
        }


def test_the_transformers_callback_tracks_training_with_its_epochs(
    hub, sensors_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = BertConfig(
        vocab_size=30,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,  # type: ignore[call-arg]
    )
    model = BertForSequenceClassification(config)  # built in code: nothing is downloaded
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    callback = EmissionsHubCallback(
        experiment="hf",
        hub_url=hub.url,
        api_key=API_KEY,
        country="FRA",
        interval_s=60,
        sensors=sensors_factory(),
    )
    Trainer(model=model, args=args, train_dataset=TinyDataset(), callbacks=[callback]).train()
    run = next(iter(hub.runs.values()))
    assert run["payload"]["epochs_total"] == 2
    # only the latest prediction matters: a newer one replaces one not yet sent
    assert hub.predictions[-1][1]["epochs_done"] == 2
    finish = hub.finishes[-1][1]
    assert finish["status"] == "finished" and "loss" in finish["metrics"]
    hub.assert_contiguous()
