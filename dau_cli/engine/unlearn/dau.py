"""Discriminative Adversarial Unlearning (Sharma et al., 2024), as docs/method.md defines it.

An attacker A_psi learns to tell the defender's responses on the forget set D_f ("member") from
its responses on a reference set R ("non-member"); the defender D_theta (the model) learns to
defeat it while keeping its accuracy on D_r, and a Barlow Twins-style term aligns the features
of D_f with those of paired reference samples. Alternating updates, no Hessians, no unrolling:

    min_{theta, omega} max_psi  CE(D_theta; D_r) + alpha * L_adv(theta, psi) + beta * L_BT(theta, omega)

The attacker sees phi_theta(x, y) = `stats.attacker_features` (the audit's statistics, so what
it learns to exploit is what the audit measures). In class forgetting, once the class is forgotten
(`dau.forgotten_acc`), the game stops and `dau.repair_steps` steps train on D_r, each guarded against
relearning (`relearning_guard`; docs/method.md says why).
Results against retraining: docs/results.md.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from dau_cli.engine.audit import auc
from dau_cli.engine.data import augment, to_float
from dau_cli.engine.stats import attacker_features
from dau_cli.engine.train import Stepper, accuracy, autocast, batch, sgd
from dau_cli.engine.unlearn import Task, register
from dau_cli.errors import DauError

# ----------------------------------------------------------------------------- the players


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
    on = (1 - diag).pow(2).sum()
    off = c.pow(2).sum() - diag.pow(2).sum()
    return (on + lambda_off * off) / d


# ----------------------------------------------------------------------------- what the attacker sees


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


def auc_of(attacker: Attacker, phi_pos: torch.Tensor, phi_neg: torch.Tensor) -> float:
    attacker.eval()
    with torch.no_grad():
        return auc(attacker(phi_pos), attacker(phi_neg))


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch: int = 512) -> None:
    """Re-estimate every batch-norm layer's running statistics on `x` (a plain average over it)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
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


# ----------------------------------------------------------------------------- the repair's guard


@contextmanager
def relearning_step(model: nn.Module, loss: torch.Tensor, radius: float, masks):
    """Within the block the model's weights are moved by `radius` (in norm, pruned weights held)
    down `loss`: the first step a relearning attack takes. They are copied back on leaving."""
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    position = {id(p): i for i, p in enumerate(params)}
    for p, m in masks.pairs:  # a pruned model is relearned as a pruned model
        grads[position[id(p)]].mul_(m)
    norm = torch.sqrt(sum((g * g).sum() for g in grads)) + 1e-12
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(radius * g / norm)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, original in zip(params, saved):
                p.copy_(original)


def relearning_guard(task: Task, masks, radius: float, n: int, weight: float) -> float:
    """The repair's guard against relearning (a sharpness-aware term, as SAM: Foret et al. 2021,
    turned against relearning as in Fan et al. 2025): take the first step of a relearning attack
    (`radius` down the cross-entropy of a batch of `n` augmented forget images under their own
    labels), and at that point measure on the same batch how far those images' forgotten-class
    logit rises above the best remaining class (a hinge, 0 for images still put elsewhere). As in
    SAM, one batch gives both the step and the gradient: the hinge's gradient, times `weight`,
    taken at the moved weights, is left in the body's `.grad` for the repair step to add to; the
    head's is dropped (through the head the guard pushes the forgotten class down everywhere:
    over-forgotten on every seed, docs/results.md). Returns the hinge's value.
    """
    model = task.model
    x, y = batch(task.data, task.sample(task.forget_idx, n), task.train_cfg, task.generator)

    def logits() -> torch.Tensor:
        with autocast(x.device):
            return model(x).float()

    with relearning_step(model, F.cross_entropy(logits(), y), radius, masks):
        z = logits()
        mine = z.gather(1, y[:, None]).squeeze(1)
        others = z.index_fill(1, torch.tensor(task.forget.classes, device=z.device), float("-inf"))
        loss = F.relu(mine - others.max(1).values).mean()
        (weight * loss).backward()
    for p in model.head.parameters():
        p.grad = None
    return loss.item()


# ----------------------------------------------------------------------------- the game


def split(idx: torch.Tensor, labels: torch.Tensor, holdout: float, gen: torch.Generator):
    """(train part, held-out part) of a set and of its query labels; each part keeps at least one
    sample (the set has at least two)."""
    order = torch.randperm(len(idx), generator=gen)
    k = min(max(int(round(holdout * len(idx))), 1), len(idx) - 1)
    held, kept = order[:k], order[k:]
    return idx[kept], labels[kept], idx[held], labels[held]


@register("dau")
def dau(task: Task, cfg) -> int:
    if cfg.variant == "authors":
        return authors(task, cfg)
    if cfg.variant != "dau":
        raise DauError(f"dau.variant must be dau or authors, got '{cfg.variant}'")
    if cfg.adv_loss not in ("nonsaturating", "minimax"):
        raise DauError(f"dau.adv_loss must be nonsaturating or minimax, got '{cfg.adv_loss}'")
    if cfg.sensitivity not in ("logits", "input"):
        raise DauError(f"dau.sensitivity must be logits or input, got '{cfg.sensitivity}'")
    model, data, dev, gen = task.model, task.data, task.device, task.generator
    torch.manual_seed(task.seed)
    class_mode = task.forget.mode == "class"
    label_free = not class_mode  # a retrained model is not confident on forgotten classes (docs/method.md)
    input_sens = cfg.sensitivity == "input"
    batch_view = cfg.attacker_view == "batch"
    tc = task.train_cfg
    labels = data.labels.cpu()

    forget_idx = task.forget_idx
    ref_idx, ref_labels = task.reference()
    if len(ref_idx) < 2:
        raise DauError("the validation split has too few samples to serve as DAU's reference set")
    if len(forget_idx) < 2:
        raise DauError(f"DAU needs at least 2 samples in the forget set (it holds some out to measure its attacker), "
                       f"got {len(forget_idx)}; forget more samples, or use another --method (e.g. ft)")
    f_tr, fy_tr, f_ho, fy_ho = split(forget_idx, labels[forget_idx], cfg.holdout, gen)
    r_tr, ry_tr, r_ho, ry_ho = split(ref_idx, ref_labels, cfg.holdout, gen)
    # class-matched pairing without a Python loop: reference positions sorted by class, and for
    # each class where its run starts and how long it is
    num_classes = data.num_classes
    by_class = torch.argsort(ref_labels, stable=True)
    counts = torch.bincount(ref_labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts

    def paired_reference(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One reference sample per forget sample: same class in random forgetting (any class when
        the reference set has none of it), any in class forgetting."""
        anywhere = torch.randint(len(ref_idx), (len(f),), generator=gen)
        if class_mode:
            pick = anywhere
        else:
            c = labels[f]
            u = torch.rand(len(f), generator=gen)
            same = by_class[(starts[c] + (u * counts[c]).long()).clamp(max=len(ref_idx) - 1)]
            pick = torch.where(counts[c] > 0, same, anywhere)
        return ref_idx[pick], ref_labels[pick]

    def images(idx: torch.Tensor, aug: bool) -> torch.Tensor:
        x = to_float(data.images[idx.to(dev)])
        return augment(x, tc.crop_pad, tc.flip, gen) if aug else x

    def clean_phi(idx: torch.Tensor, y: torch.Tensor, chunk: int = 512) -> torch.Tensor:
        """phi as the audit sees it: eval mode, no augmentation, detached; in chunks."""
        was = model.training
        model.eval()
        out = []
        for i in range(0, len(idx), chunk):
            x, yy = images(idx[i:i + chunk], aug=False), y[i:i + chunk].to(dev)
            with torch.set_grad_enabled(input_sens):  # ||grad_x loss|| needs a backward pass
                _, _, phi = observe(model, x, yy, label_free, input_sens, create_graph=False)
            out.append(phi.detach())
        model.train(was)
        return torch.cat(out)

    # the attacker and its optimiser; phi's width depends on the mode and the sensitivity option
    in_features = clean_phi(f_tr[:2], fy_tr[:2]).shape[1]
    attacker = Attacker(in_features).to(dev)
    opt_a = torch.optim.Adam(attacker.parameters(), lr=cfg.attacker_lr)
    bf = min(cfg.forget_batch, len(f_tr), len(r_tr))

    def attacker_step(phi_f: torch.Tensor | None = None, phi_r: torch.Tensor | None = None,
                      whole: bool = False) -> tuple[float, float]:
        """One Adam step on B_f forget and B_f reference samples: fresh queries, rows of cached phi,
        or (`whole`) all of the given rows."""
        if whole:
            phi = torch.cat([phi_f, phi_r])
            target = torch.cat([torch.ones(len(phi_f)), torch.zeros(len(phi_r))]).to(dev)
        else:
            i = torch.randint(len(f_tr), (bf,), generator=gen)
            j = torch.randint(len(r_tr), (bf,), generator=gen)
            if phi_f is None:
                phi = torch.cat([clean_phi(f_tr[i], fy_tr[i]), clean_phi(r_tr[j], ry_tr[j])])
            else:
                phi = torch.cat([phi_f[i.to(dev)], phi_r[j.to(dev)]])
            target = torch.cat([torch.ones(bf), torch.zeros(bf)]).to(dev)
        attacker.train()
        out = attacker(phi)
        loss = F.binary_cross_entropy_with_logits(out, target)
        opt_a.zero_grad(set_to_none=True)
        loss.backward()
        opt_a.step()
        return loss.item(), ((out > 0).float() == target).float().mean().item() * 100

    def held_out_auc() -> float:
        """The attacker's AUC on held-out samples: shown on the dashboard, not used by the game, so
        it is evaluation time (kept out of the wall time, as end_epoch's metrics are)."""
        t0 = time.perf_counter()
        value = auc_of(attacker, clean_phi(f_ho, fy_ho), clean_phi(r_ho, ry_ho))
        task.eval_seconds += time.perf_counter() - t0
        return value

    # warm start: the attacker first learns to attack the untouched original model, whose
    # statistics do not change meanwhile, so each sample is queried once
    phi_f_all, phi_r_all = clean_phi(f_tr, fy_tr), clean_phi(r_tr, ry_tr)
    # image passes count forward+backward samples (docs/method.md, "Cost accounting"); the attacker's queries and
    # the batch-norm calibration are forward-only and show in the wall time instead
    passes = 0
    task.sink.emit("phase", phase="attacker warm-up", total=cfg.attacker_warmup, epochs=0)
    for s in range(1, cfg.attacker_warmup + 1):
        a_loss, a_acc = attacker_step(phi_f_all, phi_r_all)
        task.sink.emit("step", phase="attacker warm-up", step=s, total=cfg.attacker_warmup, epoch=0,
                       attacker_loss=a_loss, attacker_acc=a_acc)

    proj = projector(model.feature_dim, cfg.proj_dim).to(dev)
    opt_d = sgd([{"params": model.parameters()}, {"params": proj.parameters()}], cfg.lr, cfg.momentum, cfg.weight_decay)
    stepper = Stepper(model, opt_d, task.masks, what="dau")
    b_f = min(cfg.forget_batch, len(forget_idx))
    b_r = max(1, int(round(cfg.retain_ratio * b_f)))
    steps_per_epoch = math.ceil(len(forget_idx) / b_f)
    epochs = cfg.epochs if class_mode else cfg.sample_epochs
    total = epochs * steps_per_epoch
    task.sink.emit("phase", phase="dau", total=total, epochs=epochs)

    # Batch-norm statistics drift while D_f's features are pushed around (on digits: 3-4 points of
    # test accuracy); re-estimating them on a fixed retain sample after every epoch removes that.
    calibration = task.sample(task.retain_idx, min(len(task.retain_idx), cfg.calibration))
    task.end_epoch("dau", 0, epochs, extra={"attacker_auc": held_out_auc()})

    # Class forgetting has a target a retrained model sets exactly: it never predicts a class it
    # never saw. Once D_f is there, the adversary has done its job (it keeps telling the forgotten
    # images from the others by their confidence on other classes, which retraining does not
    # equalise either, and that pressure only costs D_r), so the game stops and a repair on D_r
    # follows: `repair_steps` steps at `repair_lr`, a length that does not depend on |D_f|, each
    # guarded against relearning the class.
    step = 0
    for epoch in range(1, epochs + 1):
        order = task.perm(forget_idx)
        order = torch.cat([order, order[: steps_per_epoch * b_f - len(order)]])  # whole batches
        for i in range(steps_per_epoch):
            if not batch_view:
                for _ in range(cfg.attacker_steps):
                    a_loss, a_acc = attacker_step()
            f = order[i * b_f:(i + 1) * b_f]
            r, ry = paired_reference(f)
            ret = task.sample(task.retain_idx, b_r)
            # one forward over retain + forget + reference, so batch-norm sees a mixed batch
            x = images(torch.cat([ret, f, r]), aug=True)
            y = torch.cat([labels[ret], labels[f], ry]).to(dev)
            model.train()
            h, logits, phi = observe(model, x, y, label_free, input_sens, create_graph=True)
            n_r, n_f = len(ret), len(f)
            if batch_view:  # the attacker learns from this very batch's views, detached (no extra forward)
                for _ in range(cfg.attacker_steps):
                    a_loss, a_acc = attacker_step(phi[n_r:n_r + n_f].detach(), phi[n_r + n_f:].detach(), whole=True)
            ce = F.cross_entropy(logits[:n_r], y[:n_r])
            attacker.eval()  # running statistics: a batch of forget samples alone must not be re-normalised
            out_f = attacker(phi[n_r:n_r + n_f])
            if cfg.adv_loss == "nonsaturating":
                adv = F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f))
            else:
                out_r = attacker(phi[n_r + n_f:])
                adv = -(F.binary_cross_entropy_with_logits(out_f, torch.ones_like(out_f))
                        + F.binary_cross_entropy_with_logits(out_r, torch.zeros_like(out_r)))
            bt = barlow_twins(proj(h[n_r:n_r + n_f].float()), proj(h[n_r + n_f:].float()), cfg.lambda_off)
            loss = ce + cfg.alpha * adv + cfg.beta * bt
            stepper.step(loss)
            step += 1
            passes += len(x)
            task.sink.emit("step", phase="dau", step=step, total=total, epoch=epoch, attacker_loss=a_loss,
                           attacker_acc=a_acc, defender_loss=loss.item(), ce=ce.item(), adv=adv.item(), bt=bt.item())
        recalibrate_batch_norm(model, images(calibration, aug=False))
        task.end_epoch("dau", epoch, epochs, extra={"attacker_auc": held_out_auc()})
        if class_mode and (acc := accuracy(model, data, forget_idx)) <= cfg.forgotten_acc:
            task.sink.emit("log", level="info", message=f"forget accuracy {acc:.2f} % after epoch {epoch}: forgotten; "
                           f"{cfg.repair_steps} repair steps on the retain set follow")
            break
    if class_mode and cfg.repair_steps:
        if cfg.repair_lr > 0:
            for group in opt_d.param_groups:
                group["lr"] = cfg.repair_lr
        task.sink.emit("phase", phase="repair", total=cfg.repair_steps, epochs=1)
        for s in range(1, cfg.repair_steps + 1):
            model.train()
            ret = task.sample(task.retain_idx, b_r)
            parts = {}
            if cfg.guard_radius > 0:
                opt_d.zero_grad(set_to_none=True)
                parts["guard"] = relearning_guard(task, stepper.masks, cfg.guard_radius, cfg.guard_batch, cfg.guard_weight)
                passes += 2 * cfg.guard_batch
            ce = task.ce(ret)
            stepper.step(ce, accumulate=cfg.guard_radius > 0)
            passes += b_r
            task.sink.emit("step", phase="repair", step=s, total=cfg.repair_steps, epoch=1, defender_loss=ce.item(),
                           ce=ce.item(), **parts)
        recalibrate_batch_norm(model, images(calibration, aug=False))
        task.end_epoch("repair", 1, 1)
    return passes


# ----------------------------------------------------------------------------- the authors' algorithm


register("dau-authors")(dau)  # `--method dau-authors` = `--method dau` with the [dau-authors] section


def barlow_twins_unprojected(f: torch.Tensor, v: torch.Tensor, lambda_off: float) -> torch.Tensor:
    """The authors' alignment term on raw penultimate features: standardise each dimension over the
    batch, C = mean_b v_b f_b^T (pairs by position), sum_i (1 - C_ii)^2 + lambda_off sum_{i!=j} C_ij^2.
    (1e-5 keeps a dimension that is constant over the batch, e.g. a dead ReLU, from dividing by 0.)"""
    f = (f - f.mean(0)) / (f.std(0) + 1e-5)
    v = (v - v.mean(0)) / (v.std(0) + 1e-5)
    c = v.T @ f / len(f)
    diag = torch.diagonal(c)
    return (1 - diag).pow(2).sum() + lambda_off * (c.pow(2).sum() - diag.pow(2).sum())


def authors(task: Task, cfg) -> int:
    """The authors' loop (docs/method.md, "One step"); returns image passes.

    Per step: a fresh forget batch and a fresh validation batch (a new random subset each step, as
    the authors' freshly built iterators give); one attacker step on their detached views (forget
    = member); one defender step on CE(retain batch) + beta_t (alpha * reversed-label attacker CE
    + beta * L_BT), with gradients through logits and sensitivities. Class forgetting: after
    `stop_iter` steps beta_t = 0 and the learning rate is `stop_lr`. Steps are counted, not passes
    over D_r (docs/method.md says why). The attacker is pre-trained against the frozen original on
    all of D_train (members) vs D_val, once per checkpoint and settings (cached).
    """
    import copy

    from dau_cli.engine.unlearn.attacker import (TokenAttacker, load_cached, membership_targets, model_digest,
                                                  save_cached, view)

    if cfg.attacker_bn not in ("train", "eval"):
        raise DauError(f"dau.attacker_bn must be train or eval, got '{cfg.attacker_bn}'")
    if cfg.augment_view not in ("class", "always", "never"):
        raise DauError(f"dau.augment_view must be class, always or never, got '{cfg.augment_view}'")
    if cfg.steps < 1 or cfg.noise_copies < 1 or cfg.sigma <= 0:
        raise DauError("dau.steps and dau.noise_copies must be at least 1 and dau.sigma positive")
    model, data, dev, gen, tc = task.model, task.data, task.device, task.generator, task.train_cfg
    torch.manual_seed(task.seed)
    class_mode = task.forget.mode == "class"
    num_classes = data.num_classes
    labels = data.labels.cpu()
    forget_idx, val_idx, train_idx = task.forget_idx, task.val_idx, data.splits["train"]
    # forget and validation batches have one size (the authors' code asserts it)
    b = min(cfg.forget_batch, len(forget_idx), len(val_idx))
    b_r = max(1, int(round(cfg.retain_ratio * cfg.forget_batch)))
    if b < 2:
        raise DauError("the forget and validation sets need at least 2 samples each for the authors' DAU")
    aug_view = cfg.augment_view == "always" or (cfg.augment_view == "class" and class_mode)

    def images(idx: torch.Tensor, aug: bool, g: torch.Generator) -> torch.Tensor:
        x = to_float(data.images[idx.to(dev)])
        return augment(x, tc.crop_pad, tc.flip, g) if aug else x

    def fresh(idx: torch.Tensor, g: torch.Generator, k: int = b) -> torch.Tensor:
        return idx[torch.randperm(len(idx), generator=g)[:k]]

    def look(net: nn.Module, idx: torch.Tensor, aug: bool, g: torch.Generator):
        """(features, logits, attacker input) with the defender's BN as dau.attacker_bn says."""
        net.train(cfg.attacker_bn == "train")
        return view(net, images(idx, aug, g), labels[idx].to(dev), num_classes, cfg.sigma, cfg.noise_copies)

    attacker = TokenAttacker(num_classes).to(dev)
    opt_a = torch.optim.Adam(attacker.parameters(), lr=cfg.attacker_lr)

    def attacker_step(net: nn.Module, members: torch.Tensor, aug: bool, g: torch.Generator):
        """One Adam step on a member batch and a validation batch; returns their views (with graph)."""
        mem, val = look(net, fresh(members, g), aug, g), look(net, fresh(val_idx, g), aug, g)
        attacker.train()
        out = attacker(torch.cat([mem[2], val[2]]).detach())
        target = membership_targets(b, b, dev)
        loss = F.cross_entropy(out, target)
        opt_a.zero_grad(set_to_none=True)
        loss.backward()
        opt_a.step()
        return mem, val, loss.item(), (out.argmax(1) == target).float().mean().item() * 100

    # pre-training: a general membership attack on the frozen original (members: all of D_train,
    # un-augmented), cached per checkpoint and settings; its batch does not depend on D_f
    pb = min(cfg.forget_batch, len(val_idx))
    settings = {k: getattr(cfg, k) for k in ("attacker_warmup", "attacker_lr", "sigma", "noise_copies",
                                             "attacker_bn")} | {"batch": pb}
    digest = model_digest(model, task.masks, data.describe(), settings)
    if load_cached(attacker, digest):
        task.sink.emit("log", level="info", message=f"attacker loaded from the cache ({digest})")
    else:
        t0 = time.perf_counter()
        frozen = copy.deepcopy(model)  # train-mode BN would otherwise move the original's statistics
        for p in frozen.parameters():
            p.requires_grad_(False)
        g = torch.Generator().manual_seed(0)  # pre-training depends on the checkpoint, not on the run's seed
        torch.manual_seed(0)
        task.sink.emit("phase", phase="attacker pre-training", total=cfg.attacker_warmup, epochs=0)
        for s in range(1, cfg.attacker_warmup + 1):
            with torch.no_grad():
                mem = look(frozen, fresh(train_idx, g, pb), False, g)
                val = look(frozen, fresh(val_idx, g, pb), False, g)
            attacker.train()
            out = attacker(torch.cat([mem[2], val[2]]))
            target = membership_targets(pb, pb, dev)
            loss = F.cross_entropy(out, target)
            opt_a.zero_grad(set_to_none=True)
            loss.backward()
            opt_a.step()
            task.sink.emit("step", phase="attacker pre-training", step=s, total=cfg.attacker_warmup, epoch=0,
                           attacker_loss=loss.item(),
                           attacker_acc=(out.argmax(1) == target).float().mean().item() * 100)
        del frozen
        save_cached(attacker, digest, {"settings": settings, "seconds": time.perf_counter() - t0})
        task.pretrain_seconds += time.perf_counter() - t0
        opt_a = torch.optim.Adam(attacker.parameters(), lr=cfg.attacker_lr)  # the authors build it afresh
    torch.manual_seed(task.seed)  # the run's own randomness starts here, cached attacker or not: the same model

    lr = cfg.class_lr if class_mode else cfg.lr
    opt_d = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
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
            f_view, v_view, a_loss, a_acc = attacker_step(model, forget_idx, aug_view, gen)
            parts = {"attacker_loss": a_loss, "attacker_acc": a_acc}
        elif cfg.attacker_bn == "train":
            # the authors' code keeps querying after stop_iter; with batch statistics those forward
            # passes move the defender's running statistics, so they are kept (and nothing else is)
            with torch.no_grad():
                look(model, fresh(forget_idx, gen), aug_view, gen), look(model, fresh(val_idx, gen), aug_view, gen)
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
