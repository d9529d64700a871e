"""What every unlearning method is given: the model to change, the data and sets, the original
recipe, and the helpers the methods share (the reference set, augmented batches, epoch events)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from dau_cli.config import TrainConfig
from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet
from dau_cli.engine.stats import ATTACK_STATISTICS, MEMBER_SIGN, sample_stats
from dau_cli.engine.train import accuracy, autocast, batch, predict
from dau_cli.runs import EventSink

EPOCH_SAMPLE = 4096  # epoch events measure at most this many images of each set (a fixed draw)


@dataclass
class Task:
    """Everything a method needs: the model to change, the sets, the original recipe."""

    model: torch.nn.Module
    data: Data
    forget: ForgetSet
    retain_idx: torch.Tensor
    train_cfg: TrainConfig  # the original training recipe (augmentation, retraining)
    arch: str
    arch_args: dict
    sink: EventSink
    seed: int = 0
    masks: dict[str, torch.Tensor] | None = None
    eval_seconds: float = 0.0
    pretrain_seconds: float = 0.0  # one-off work cached for later runs (the authors' attacker pre-training)
    generator: torch.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def device(self) -> torch.device:
        return self.data.images.device

    @property
    def forget_idx(self) -> torch.Tensor:
        return self.forget.indices

    @property
    def val_idx(self) -> torch.Tensor:
        return self.data.splits["val"]

    def reference(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference set R and the labels it is queried under (docs/method.md).

        Random or index forgetting: D_val with its own labels. Class forgetting: the D_val images
        of the remaining classes, each under a forgotten label (what a model that never saw the
        class answers for "is this a k?").
        """
        val = self.val_idx
        labels = self.data.labels.cpu()[val]
        if self.forget.mode != "class":
            return val, labels
        keep = ~torch.isin(labels, torch.tensor(self.forget.classes))
        ref = val[keep]
        forgotten = torch.tensor(self.forget.classes)
        g = torch.Generator().manual_seed(self.seed + 1)
        return ref, forgotten[torch.randint(len(forgotten), (len(ref),), generator=g)]

    def ce(self, idx: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The model's cross-entropy on an augmented batch of `idx` (under `labels` if given)."""
        x, y = batch(self.data, idx, self.train_cfg, self.generator)
        with autocast(self.device):
            logits = self.model(x).float()
        return F.cross_entropy(logits, y if labels is None else labels)

    def perm(self, idx: torch.Tensor) -> torch.Tensor:
        return idx[torch.randperm(len(idx), generator=self.generator)]

    def epoch_sample(self, idx: torch.Tensor) -> torch.Tensor:
        """`idx` itself, or a fixed seeded draw of EPOCH_SAMPLE of it (in order) when it is larger."""
        if len(idx) <= EPOCH_SAMPLE:
            return idx
        g = torch.Generator().manual_seed(len(idx))
        return idx[torch.randperm(len(idx), generator=g)[:EPOCH_SAMPLE].sort().values.to(idx.device)]

    def sample(self, idx: torch.Tensor, k: int) -> torch.Tensor:
        return idx[torch.randint(len(idx), (k,), generator=self.generator)]

    def end_epoch(self, phase: str, epoch: int, epochs: int, extra: dict | None = None) -> dict:
        """Emit the epoch event: accuracies on D_f, D_r, D_val and each attack's AUC on D_f vs R, each
        on the same draw of at most EPOCH_SAMPLE of the set's images every epoch (progress to watch:
        the audit after unlearning measures the whole sets)."""
        from dau_cli.engine.audit import auc

        t0 = time.perf_counter()
        forget_idx = self.epoch_sample(self.forget_idx)
        metrics = {"forget_acc": accuracy(self.model, self.data, forget_idx),
                   "retain_acc": accuracy(self.model, self.data, self.epoch_sample(self.retain_idx)),
                   "val_acc": accuracy(self.model, self.data, self.epoch_sample(self.val_idx))}
        ref_idx, ref_labels = self.reference()
        keep = self.epoch_sample(torch.arange(len(ref_idx)))
        dev = self.device
        s_f = sample_stats(predict(self.model, self.data, forget_idx), self.data.labels[forget_idx.to(dev)])
        s_r = sample_stats(predict(self.model, self.data, ref_idx[keep]), ref_labels[keep].to(dev))
        aucs = {name: auc(MEMBER_SIGN[name] * s_f[name], MEMBER_SIGN[name] * s_r[name]) for name in ATTACK_STATISTICS}
        self.sink.emit("epoch", phase=phase, epoch=epoch, epochs=epochs, metrics={**metrics, **(extra or {})}, auc=aucs)
        self.eval_seconds += time.perf_counter() - t0
        return {"metrics": metrics, "auc": aucs}
