"""Discriminative Adversarial Unlearning as dau implements it (`--method dau`; docs/method.md).

An attacker A_psi learns to tell the defender's responses on the forget set D_f ("member") from
its responses on a reference set R ("non-member"); the defender D_theta (the model) learns to
defeat it while keeping its accuracy on D_r, and a Barlow Twins-style term aligns the features
of D_f with those of paired reference samples. Alternating updates, no Hessians, no unrolling:

    min_{theta, omega} max_psi  CE(D_theta; D_r) + alpha * L_adv(theta, psi) + beta * L_BT(theta, omega)

The attacker sees phi_theta(x, y) = `stats.attacker_features`, the audit's statistics. Three
phases share one `Game`: `warm_up` (the attacker against the untouched original), `play` (the
game; in class forgetting it stops once the class is forgotten) and, in class forgetting,
`repair` (steps on D_r, each with `guard.guard` against relearning). The authors' algorithm is
`dau_authors.py` (`--method dau-authors`). Results: docs/results.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dau_cli.config import DauConfig
from dau_cli.engine.audit import auc
from dau_cli.engine.data import augment, to_float
from dau_cli.engine.stats import attacker_features
from dau_cli.engine.train import Stepper, accuracy, autocast, sgd
from dau_cli.engine.unlearn.guard import guard, step_adding
from dau_cli.engine.unlearn.task import Task
from dau_cli.errors import DauError


class Attacker(nn.Module):
    """Input batch-norm, then 64, 64, 1 units with ReLU: the logit of "was trained on"."""

    def __init__(self, in_features: int):
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm1d(in_features), nn.Linear(in_features, 64), nn.ReLU(),
                                 nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.net(phi).squeeze(1)


def projector(feature_dim: int, width: int) -> nn.Module:
    """g_omega: Linear, BN, ReLU, Linear to `width` dims; trained with the defender, then discarded."""
    return nn.Sequential(nn.Linear(feature_dim, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, width))


def barlow_twins(z_f: torch.Tensor, z_r: torch.Tensor, lambda_off: float) -> torch.Tensor:
    """L_BT = (1/d) [sum_i (1 - C_ii)^2 + lambda_off sum_{i!=j} C_ij^2], C the cross-correlation of the
    per-dimension standardised projections (docs/method.md, the 1/d keeps it on a CE scale)."""
    b, d = z_f.shape
    z_f = (z_f - z_f.mean(0)) / (z_f.std(0) + 1e-5)
    z_r = (z_r - z_r.mean(0)) / (z_r.std(0) + 1e-5)
    c = z_f.T @ z_r / b
    diag = torch.diagonal(c)
    return ((1 - diag).pow(2).sum() + lambda_off * (c.pow(2).sum() - diag.pow(2).sum())) / d


def observe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, label_free: bool, input_sensitivity: bool,
            create_graph: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features h, logits z, phi) for a batch; phi is differentiable in the model's parameters."""
    if input_sensitivity:
        x = x.detach().requires_grad_(True)
    with autocast(x.device):
        h, logits = model.forward_with_features(x)
    logits = logits.float()
    grad_norm = None
    if input_sensitivity:  # ||grad_x loss||, double backward when the defender learns through it
        loss = F.cross_entropy(logits, y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x, create_graph=create_graph)
        grad_norm = g.flatten(1).norm(dim=1)
    return h, logits, attacker_features(logits, y, label_free, grad_norm)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch: int = 512) -> None:
    """Re-estimate every batch-norm layer's running statistics on `x` (a plain average; none if empty)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or not len(x):
        return
    was = model.training
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for i in range(0, len(x), batch):
        with autocast(x.device):
            model(x[i:i + batch])
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train(was)


def split(idx: torch.Tensor, labels: torch.Tensor, holdout: float, gen: torch.Generator):
    """((indices, labels) to train on, (indices, labels) held out) of a set and its query labels;
    each part keeps at least one sample (the set has at least two)."""
    order = torch.randperm(len(idx), generator=gen)
    k = min(max(int(round(holdout * len(idx))), 1), len(idx) - 1)
    held, kept = order[:k], order[k:]
    return (idx[kept], labels[kept]), (idx[held], labels[held])


def pairing(ref_idx: torch.Tensor, ref_labels: torch.Tensor, labels: torch.Tensor, num_classes: int,
            same_class: bool, gen: torch.Generator) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """f -> one reference sample per forget sample (indices, query labels): of the same class if
    `same_class` and the reference set has one, else any. No Python loop: reference positions
    sorted by class, and for each class where its run starts and how long it is."""
    by_class = torch.argsort(ref_labels, stable=True)
    counts = torch.bincount(ref_labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts

    def pair(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(len(ref_idx), (len(f),), generator=gen)
        if same_class:
            c = labels[f]
            u = torch.rand(len(f), generator=gen)
            same = by_class[(starts[c] + (u * counts[c]).long()).clamp(max=len(ref_idx) - 1)]
            pick = torch.where(counts[c] > 0, same, pick)
        return ref_idx[pick], ref_labels[pick]

    return pair


@dataclass
class Game:
    """What the phases share. The attacker trains on `forget`, `reference` (indices, query labels) and is
    measured on `held_forget`, `held_reference`; `play` sets the defender's parts (`proj` to `calibration`)."""

    task: Task
    cfg: DauConfig
    class_mode: bool
    labels: torch.Tensor  # every sample's label, on the CPU
    forget: tuple[torch.Tensor, torch.Tensor]
    held_forget: tuple[torch.Tensor, torch.Tensor]
    reference: tuple[torch.Tensor, torch.Tensor]
    held_reference: tuple[torch.Tensor, torch.Tensor]
    pair: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    attacker: Attacker | None = None
    opt_a: torch.optim.Optimizer | None = None
    proj: nn.Module | None = None
    stepper: Stepper | None = None
    b_r: int = 0
    calibration: torch.Tensor | None = None
    passes: int = 0  # forward+backward samples (docs/method.md, "Cost accounting")

    def images(self, idx: torch.Tensor, aug: bool) -> torch.Tensor:
        t = self.task
        x = to_float(t.data.images[idx.to(t.device)])
        return augment(x, t.train_cfg.crop_pad, t.train_cfg.flip, t.generator) if aug else x

    def clean_phi(self, idx: torch.Tensor, y: torch.Tensor, chunk: int = 512) -> torch.Tensor:
        """phi as the audit sees it: eval mode, no augmentation, detached; in chunks."""
        model, input_sens = self.task.model, self.cfg.sensitivity == "input"
        was = model.training
        model.eval()
        out = []
        for i in range(0, len(idx), chunk):
            x, yy = self.images(idx[i:i + chunk], aug=False), y[i:i + chunk].to(self.task.device)
            with torch.set_grad_enabled(input_sens):  # ||grad_x loss|| needs a backward pass
                _, _, phi = observe(model, x, yy, not self.class_mode, input_sens, create_graph=False)
            out.append(phi.detach())
        model.train(was)
        return torch.cat(out)

    def attacker_step(self, phi_f: torch.Tensor | None = None, phi_r: torch.Tensor | None = None
                      ) -> tuple[float, float]:
        """One Adam step on a batch of forget and as many reference samples: rows of the cached
        `phi_f`, `phi_r` if given, else fresh queries. Returns its loss and accuracy (%)."""
        (f, fy), (r, ry), dev = self.forget, self.reference, self.task.device
        b = min(self.cfg.forget_batch, len(f), len(r))
        i = torch.randint(len(f), (b,), generator=self.task.generator)
        j = torch.randint(len(r), (b,), generator=self.task.generator)
        if phi_f is None:
            phi = torch.cat([self.clean_phi(f[i], fy[i]), self.clean_phi(r[j], ry[j])])
        else:
            phi = torch.cat([phi_f[i.to(dev)], phi_r[j.to(dev)]])
        target = torch.cat([torch.ones(b), torch.zeros(b)]).to(dev)
        self.attacker.train()
        out = self.attacker(phi)
        loss = F.binary_cross_entropy_with_logits(out, target)
        self.opt_a.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_a.step()
        return loss.item(), ((out > 0).float() == target).float().mean().item() * 100

    def held_out_auc(self) -> float:
        """The attacker's AUC on the held-out samples: shown on the dashboard, not used by the game,
        so it counts as evaluation time (kept out of the wall time, as end_epoch's metrics are)."""
        t0 = time.perf_counter()
        phi_f, phi_r = self.clean_phi(*self.held_forget), self.clean_phi(*self.held_reference)
        self.attacker.eval()
        with torch.no_grad():
            value = auc(self.attacker(phi_f), self.attacker(phi_r))
        self.task.eval_seconds += time.perf_counter() - t0
        return value


# ----------------------------------------------------------------------------- the phases


def start(task: Task, cfg: DauConfig) -> Game:
    """The sets, split into the attacker's training and held-out parts, and the attacker."""
    torch.manual_seed(task.seed)
    class_mode = task.forget.mode == "class"
    labels = task.data.labels.cpu()
    forget_idx = task.forget_idx
    ref_idx, ref_labels = task.reference()
    if len(ref_idx) < 2:
        raise DauError("the validation split has too few samples to serve as DAU's reference set")
    if len(forget_idx) < 2:
        raise DauError(f"DAU needs at least 2 samples in the forget set (it holds some out to measure its attacker), "
                       f"got {len(forget_idx)}; forget more samples, or use another --method (e.g. ft)")
    forget, held_forget = split(forget_idx, labels[forget_idx], cfg.holdout, task.generator)
    reference, held_reference = split(ref_idx, ref_labels, cfg.holdout, task.generator)
    game = Game(task, cfg, class_mode, labels, forget, held_forget, reference, held_reference,
                pairing(ref_idx, ref_labels, labels, task.data.num_classes, not class_mode, task.generator))
    in_features = game.clean_phi(forget[0][:2], forget[1][:2]).shape[1]  # phi's width: mode and sensitivity
    game.attacker = Attacker(in_features).to(task.device)
    game.opt_a = torch.optim.Adam(game.attacker.parameters(), lr=cfg.attacker_lr)
    return game


def warm_up(game: Game) -> None:
    """The attacker first learns to attack the untouched original model, whose statistics do not
    change meanwhile, so each sample is queried once."""
    sink, total = game.task.sink, game.cfg.attacker_warmup
    phi_f, phi_r = game.clean_phi(*game.forget), game.clean_phi(*game.reference)
    sink.emit("phase", phase="attacker warm-up", total=total, epochs=0)
    for s in range(1, total + 1):
        a_loss, a_acc = game.attacker_step(phi_f, phi_r)
        sink.emit("step", phase="attacker warm-up", step=s, total=total, epoch=0, attacker_loss=a_loss,
                  attacker_acc=a_acc)


def defender_step(game: Game, f: torch.Tensor) -> dict[str, float]:
    """One SGD step on CE + alpha L_adv + beta L_BT over B_r retain samples, the forget samples `f` and as
    many paired reference samples, in one forward pass (batch-norm sees a mixed batch); the loss's terms."""
    task, cfg, labels = game.task, game.cfg, game.labels
    r, ry = game.pair(f)
    ret = task.sample(task.retain_idx, game.b_r)
    x = game.images(torch.cat([ret, f, r]), aug=True)
    y = torch.cat([labels[ret], labels[f], ry]).to(task.device)
    task.model.train()
    h, logits, phi = observe(task.model, x, y, not game.class_mode, cfg.sensitivity == "input", create_graph=True)
    n_r, n_f = len(ret), len(f)
    ce = F.cross_entropy(logits[:n_r], y[:n_r])
    game.attacker.eval()  # running statistics: a batch of forget samples alone must not be re-normalised
    out_f = game.attacker(phi[n_r:n_r + n_f])
    if cfg.adv_loss == "nonsaturating":
        adv = F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f))
    else:  # minimax: minus the attacker's own loss
        out_r = game.attacker(phi[n_r + n_f:])
        adv = -(F.binary_cross_entropy_with_logits(out_f, torch.ones_like(out_f))
                + F.binary_cross_entropy_with_logits(out_r, torch.zeros_like(out_r)))
    bt = barlow_twins(game.proj(h[n_r:n_r + n_f].float()), game.proj(h[n_r + n_f:].float()), cfg.lambda_off)
    loss = ce + cfg.alpha * adv + cfg.beta * bt
    game.stepper.step(loss)
    game.passes += len(x)
    return {"defender_loss": loss.item(), "ce": ce.item(), "adv": adv.item(), "bt": bt.item()}


def play(game: Game) -> None:
    """Epochs over D_f in whole batches of B_f, `attacker_steps` attacker steps and a defender step each;
    batch-norm statistics, which drift meanwhile, re-estimated on a fixed retain sample after each. In class
    forgetting the game stops once D_f's accuracy is at most `forgotten_acc`: a retrained model never predicts
    a class it never saw, and the attacker's further pressure only costs D_r (docs/method.md)."""
    task, cfg, model = game.task, game.cfg, game.task.model
    game.proj = projector(model.feature_dim, cfg.proj_dim).to(task.device)
    opt_d = sgd([{"params": model.parameters()}, {"params": game.proj.parameters()}], cfg.lr, cfg.momentum,
                cfg.weight_decay)
    game.stepper = Stepper(model, opt_d, task.masks, what="dau")
    forget_idx = task.forget_idx
    b_f = min(cfg.forget_batch, len(forget_idx))
    game.b_r = max(1, int(round(cfg.retain_ratio * b_f)))
    steps_per_epoch = math.ceil(len(forget_idx) / b_f)
    epochs = cfg.epochs if game.class_mode else cfg.sample_epochs
    total = epochs * steps_per_epoch
    task.sink.emit("phase", phase="dau", total=total, epochs=epochs)
    game.calibration = task.sample(task.retain_idx, min(len(task.retain_idx), cfg.calibration))
    task.end_epoch("dau", 0, epochs, extra={"attacker_auc": game.held_out_auc()})
    step = 0
    for epoch in range(1, epochs + 1):
        order = task.perm(forget_idx)
        order = torch.cat([order, order[: steps_per_epoch * b_f - len(order)]])  # whole batches
        for i in range(steps_per_epoch):
            for _ in range(cfg.attacker_steps):
                a_loss, a_acc = game.attacker_step()
            parts = defender_step(game, order[i * b_f:(i + 1) * b_f])
            step += 1
            task.sink.emit("step", phase="dau", step=step, total=total, epoch=epoch, attacker_loss=a_loss,
                           attacker_acc=a_acc, **parts)
        recalibrate_batch_norm(model, game.images(game.calibration, aug=False))
        task.end_epoch("dau", epoch, epochs, extra={"attacker_auc": game.held_out_auc()})
        if game.class_mode and (acc := accuracy(model, task.data, forget_idx)) <= cfg.forgotten_acc:
            task.sink.emit("log", level="info", message=f"forget accuracy {acc:.2f} % after epoch {epoch}: forgotten; "
                           f"{cfg.repair_steps} repair steps on the retain set follow")
            break


def repair(game: Game) -> None:
    """Class forgetting, after the game: `repair_steps` steps on B_r retain samples at `repair_lr`, each with
    the guard's gradient added (a length independent of |D_f|); batch-norm statistics re-estimated at the end."""
    task, cfg = game.task, game.cfg
    if cfg.repair_lr > 0:
        for group in game.stepper.optimizer.param_groups:
            group["lr"] = cfg.repair_lr
    task.sink.emit("phase", phase="repair", total=cfg.repair_steps, epochs=1)
    for s in range(1, cfg.repair_steps + 1):
        task.model.train()
        ret = task.sample(task.retain_idx, game.b_r)
        extra, parts = {}, {}
        if cfg.guard_radius > 0:
            extra, parts["guard"] = guard(task, game.stepper.masks, cfg.guard_radius, cfg.guard_batch,
                                          cfg.guard_weight)
            game.passes += 2 * cfg.guard_batch
        ce = task.ce(ret)
        step_adding(game.stepper, ce, extra)
        game.passes += game.b_r
        task.sink.emit("step", phase="repair", step=s, total=cfg.repair_steps, epoch=1, defender_loss=ce.item(),
                       ce=ce.item(), **parts)
    recalibrate_batch_norm(task.model, game.images(game.calibration, aug=False))
    task.end_epoch("repair", 1, 1)


def dau(task: Task, cfg: DauConfig) -> int:
    """DAU's phases; returns image passes (forward-only work shows in the wall time instead)."""
    game = start(task, cfg)
    warm_up(game)
    play(game)
    if game.class_mode and cfg.repair_steps:
        repair(game)
    return game.passes
