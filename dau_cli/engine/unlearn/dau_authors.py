"""The authors' DAU (`--method dau-authors`): Sharma et al. 2024 as their code runs it (GitHub
rohan1561/Gunlearn); docs/method.md compares each of its choices with `--method dau`'s.

Per step: a fresh forget batch and a fresh validation batch (a new random subset each step, as
the authors' freshly built iterators give); one attacker step on their detached views (forget
= member); one defender step on CE(retain batch) + beta_t (alpha * reversed-label attacker CE
+ beta * L_BT), with gradients through logits and sensitivities. Class forgetting: after
`stop_iter` steps beta_t = 0 and the learning rate is `stop_lr`. Steps are counted, not passes
over D_r (docs/method.md says why). The attacker (attacker.py) is pre-trained against the frozen
original on all of D_train (members) vs D_val, once per checkpoint and settings (cached). While
it looks, the defender's batch norm uses batch statistics, as in the authors' code.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from dau_cli.config import DauAuthorsConfig
from dau_cli.engine.data import augment, to_float
from dau_cli.engine.train import Stepper
from dau_cli.engine.unlearn.task import Task
from dau_cli.engine.unlearn.attacker import (TokenAttacker, load_cached, membership_targets, model_digest, save_cached,
                                              view)
from dau_cli.errors import DauError


def barlow_twins_unprojected(f: torch.Tensor, v: torch.Tensor, lambda_off: float) -> torch.Tensor:
    """The authors' alignment term on raw penultimate features: standardise each dimension over the
    batch, C = mean_b v_b f_b^T (pairs by position), sum_i (1 - C_ii)^2 + lambda_off sum_{i!=j} C_ij^2.
    (1e-5 keeps a dimension that is constant over the batch, e.g. a dead ReLU, from dividing by 0.)"""
    f = (f - f.mean(0)) / (f.std(0) + 1e-5)
    v = (v - v.mean(0)) / (v.std(0) + 1e-5)
    c = v.T @ f / len(f)
    diag = torch.diagonal(c)
    return (1 - diag).pow(2).sum() + lambda_off * (c.pow(2).sum() - diag.pow(2).sum())


@dataclass
class Views:
    """How the attacker sees the defender: batches of `b` (forget and validation batches have one
    size, as the authors' code asserts), augmented if `augment`."""

    task: Task
    cfg: DauAuthorsConfig
    b: int
    augment: bool
    labels: torch.Tensor = field(init=False)  # every sample's label, on the CPU

    def __post_init__(self) -> None:
        self.labels = self.task.data.labels.cpu()

    def fresh(self, idx: torch.Tensor, g: torch.Generator, k: int | None = None) -> torch.Tensor:
        """A fresh random subset of `idx`, of `k` (default `b`) samples."""
        return idx[torch.randperm(len(idx), generator=g)[:self.b if k is None else k]]

    def look(self, net: nn.Module, idx: torch.Tensor, aug: bool, g: torch.Generator):
        """(features, logits, attacker input) of `idx`, the net's batch norm on batch statistics."""
        t = self.task
        net.train(True)
        x = to_float(t.data.images[idx.to(t.device)])
        x = augment(x, t.train_cfg.crop_pad, t.train_cfg.flip, g) if aug else x
        return view(net, x, self.labels[idx].to(t.device), t.data.num_classes, self.cfg.sigma, self.cfg.noise_copies)


def pretrain(views: Views, attacker: TokenAttacker) -> None:
    """A general membership attack on the frozen original (members: all of D_train, un-augmented),
    `attacker_warmup` Adam steps, cached per checkpoint and settings; its batch does not depend on
    D_f, its randomness not on the run's seed."""
    task, cfg = views.task, views.cfg
    train_idx, val_idx, dev = task.data.splits["train"], task.val_idx, task.device
    pb = min(cfg.forget_batch, len(val_idx))
    settings = {k: getattr(cfg, k) for k in ("attacker_warmup", "attacker_lr", "sigma", "noise_copies")}
    settings |= {"attacker_bn": "train", "batch": pb}  # attacker_bn: the one value left, kept so caches still match
    digest = model_digest(task.model, task.masks, task.data.describe(), settings)
    if load_cached(attacker, digest):
        task.sink.emit("log", level="info", message=f"attacker loaded from the cache ({digest})")
        return
    t0 = time.perf_counter()
    opt_a = torch.optim.Adam(attacker.parameters(), lr=cfg.attacker_lr)
    frozen = copy.deepcopy(task.model)  # train-mode BN would otherwise move the original's statistics
    for p in frozen.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    task.sink.emit("phase", phase="attacker pre-training", total=cfg.attacker_warmup, epochs=0)
    for s in range(1, cfg.attacker_warmup + 1):
        with torch.no_grad():
            mem = views.look(frozen, views.fresh(train_idx, g, pb), False, g)
            val = views.look(frozen, views.fresh(val_idx, g, pb), False, g)
        attacker.train()
        out = attacker(torch.cat([mem[2], val[2]]))
        target = membership_targets(pb, pb, dev)
        loss = F.cross_entropy(out, target)
        opt_a.zero_grad(set_to_none=True)
        loss.backward()
        opt_a.step()
        task.sink.emit("step", phase="attacker pre-training", step=s, total=cfg.attacker_warmup, epoch=0,
                       attacker_loss=loss.item(), attacker_acc=(out.argmax(1) == target).float().mean().item() * 100)
    del frozen
    save_cached(attacker, digest, {"settings": settings, "seconds": time.perf_counter() - t0})
    task.pretrain_seconds += time.perf_counter() - t0


def attacker_step(views: Views, attacker: TokenAttacker, opt_a: torch.optim.Optimizer):
    """One Adam step on a fresh forget (member) and validation batch of the defender's views, detached;
    returns the views (with their graphs, for the defender's terms), the loss and the accuracy (%)."""
    task = views.task
    mem = views.look(task.model, views.fresh(task.forget_idx, task.generator), views.augment, task.generator)
    val = views.look(task.model, views.fresh(task.val_idx, task.generator), views.augment, task.generator)
    attacker.train()
    out = attacker(torch.cat([mem[2], val[2]]).detach())
    target = membership_targets(views.b, views.b, task.device)
    loss = F.cross_entropy(out, target)
    opt_a.zero_grad(set_to_none=True)
    loss.backward()
    opt_a.step()
    return mem, val, loss.item(), (out.argmax(1) == target).float().mean().item() * 100


def dau_authors(task: Task, cfg: DauAuthorsConfig) -> int:
    """The authors' loop (docs/method.md, "The authors' DAU and the default"); returns image passes."""
    model, dev, gen = task.model, task.device, task.generator
    torch.manual_seed(task.seed)
    class_mode = task.forget.mode == "class"
    num_classes = task.data.num_classes
    b = min(cfg.forget_batch, len(task.forget_idx), len(task.val_idx))
    b_r = max(1, int(round(cfg.retain_ratio * cfg.forget_batch)))
    if b < 2:
        raise DauError("the forget and validation sets need at least 2 samples each for the authors' DAU")
    views = Views(task, cfg, b, cfg.augment_view == "always" or (cfg.augment_view == "class" and class_mode))
    attacker = TokenAttacker(num_classes).to(dev)
    pretrain(views, attacker)
    opt_a = torch.optim.Adam(attacker.parameters(), lr=cfg.attacker_lr)  # the authors build it afresh
    torch.manual_seed(task.seed)  # the run's own randomness starts here, cached attacker or not: the same model

    opt_d = torch.optim.SGD(model.parameters(), lr=cfg.class_lr if class_mode else cfg.lr, momentum=cfg.momentum,
                            weight_decay=cfg.weight_decay)
    stepper = Stepper(model, opt_d, task.masks, what="dau")
    steps_per_epoch = math.ceil(len(task.retain_idx) / b_r)  # an "epoch" is a pass over D_r
    epochs = math.ceil(cfg.steps / steps_per_epoch)
    task.sink.emit("phase", phase="dau", total=cfg.steps, epochs=epochs)
    task.end_epoch("dau", 0, epochs)
    passes = 0
    order = task.perm(task.retain_idx)
    for step in range(1, cfg.steps + 1):
        adversarial = not (class_mode and step > cfg.stop_iter)
        if class_mode and step == cfg.stop_iter + 1:
            for group in opt_d.param_groups:
                group["lr"] = cfg.stop_lr
            task.sink.emit("log", level="info", message=f"stop_iter {cfg.stop_iter} reached: plain fine-tuning on "
                           f"the retain set at lr {cfg.stop_lr} from here")
        parts: dict[str, float] = {}
        if adversarial:
            f_view, v_view, a_loss, a_acc = attacker_step(views, attacker, opt_a)
            parts = {"attacker_loss": a_loss, "attacker_acc": a_acc}
        else:
            # the authors' code keeps querying after stop_iter; with batch statistics those forward
            # passes move the defender's running statistics, so they are kept (and nothing else is)
            with torch.no_grad():
                views.look(model, views.fresh(task.forget_idx, gen), views.augment, gen)
                views.look(model, views.fresh(task.val_idx, gen), views.augment, gen)
        i = (step - 1) % steps_per_epoch
        if i == 0 and step > 1:
            order = task.perm(task.retain_idx)
        ret = order[i * b_r:(i + 1) * b_r]
        model.train()
        ce = task.ce(ret)
        loss = ce
        passes += len(ret)
        if adversarial:
            attacker.train()  # as the authors' code: dropout on, batch statistics of this batch
            out = attacker(torch.cat([f_view[2], v_view[2]]))
            adv = F.cross_entropy(out, membership_targets(b, b, dev, reverse=True))
            bt = barlow_twins_unprojected(f_view[0], v_view[0], cfg.lambda_off)
            loss = ce + cfg.alpha * adv + cfg.beta * bt
            passes += 2 * b * (1 + cfg.noise_copies)
            parts |= {"adv": adv.item(), "bt": bt.item(),
                      "sensitivity_f": f_view[2][:, 2 * num_classes:].mean().item(),
                      "sensitivity_v": v_view[2][:, 2 * num_classes:].mean().item()}
        stepper.step(loss)
        task.sink.emit("step", phase="dau", step=step, total=cfg.steps, epoch=(step - 1) // steps_per_epoch + 1,
                       defender_loss=loss.item(), ce=ce.item(), **parts)
        if step % steps_per_epoch == 0 or step == cfg.steps:
            task.end_epoch("dau", math.ceil(step / steps_per_epoch), epochs)
    return passes
