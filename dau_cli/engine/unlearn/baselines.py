"""The baselines a reviewer expects next to DAU, each as the literature describes it.

- retrain: from scratch on D_r with the original recipe (the ideal every metric aims at)
- ft:      fine-tuning on D_r
- ga:      gradient ascent on D_f
- rl:      random labels on D_f, trained together with D_r
- l1:      fine-tuning on D_r with an l1 penalty that decays linearly to zero (Jia et al., 2023)
- salun:   rl restricted to the most salient weights, |grad of the GA loss on D_f| (Fan et al., 2024)
- scrub:   max-steps on D_f away from the original model, min-steps on D_r close to it
           (Kurmanji et al., 2023)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from dau_cli.engine.models import build_model
from dau_cli.engine.train import Stepper, autocast, batch, fit, prepare, sgd
from dau_cli.engine.unlearn.task import Task


def loop(task: Task, phase: str, epochs: int, steps_per_epoch: int, stepper: Stepper,
         step_fn: Callable[[int], tuple[torch.Tensor, dict]]) -> None:
    """The shared inner loop of the loss-based methods: step, report, evaluate each epoch."""
    total = epochs * steps_per_epoch
    task.sink.emit("phase", phase=phase, total=total, epochs=epochs)
    step = 0
    for epoch in range(1, epochs + 1):
        for i in range(steps_per_epoch):
            loss, parts = step_fn(i)
            stepper.step(loss)
            step += 1
            task.sink.emit("step", phase=phase, step=step, total=total, epoch=epoch, loss=loss.item(), **parts)
        task.end_epoch(phase, epoch, epochs)


def chunks(task: Task, idx: torch.Tensor, size: int) -> tuple[int, Callable[[int], torch.Tensor]]:
    """Batches of a fresh permutation each pass: (number of steps, i -> indices of step i)."""
    steps = math.ceil(len(idx) / size)
    state = {"order": task.perm(idx)}

    def get(i: int) -> torch.Tensor:
        if i == 0:
            state["order"] = task.perm(idx)
        return state["order"][i * size:(i + 1) * size]

    return steps, get


def other_labels(y: torch.Tensor, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """A uniformly random label different from each true label."""
    shift = torch.randint(1, num_classes, y.shape, generator=gen).to(y.device)
    return (y + shift) % num_classes


def retrain(task: Task, cfg) -> int:
    epochs = cfg.epochs or task.train_cfg.epochs
    tc = replace(task.train_cfg, epochs=epochs, seed=task.seed)
    torch.manual_seed(task.seed)
    fresh = prepare(build_model(task.arch, task.data.num_classes, task.data.input_shape, **task.arch_args), task.device)
    result = fit(fresh, task.data, task.retain_idx, tc, task.sink, phase="retrain", masks=task.masks,
                 on_epoch=lambda e: None)
    task.model.load_state_dict(fresh.state_dict())
    task.end_epoch("retrain", epochs, epochs)
    return result["image_passes"]


def ft(task: Task, cfg) -> int:
    tc = replace(task.train_cfg, epochs=cfg.epochs, lr=cfg.lr, schedule="cosine", seed=task.seed)
    result = fit(task.model, task.data, task.retain_idx, tc, task.sink, phase="ft", masks=task.masks,
                 on_epoch=lambda e: task.end_epoch("ft", e, cfg.epochs))
    return result["image_passes"]


def l1(task: Task, cfg) -> int:
    tc = replace(task.train_cfg, epochs=cfg.epochs, lr=cfg.lr, schedule="cosine", seed=task.seed)
    params = [p for n, p in task.model.named_parameters() if p.dim() > 1]

    def penalty(model, step, total):  # gamma decays linearly to 0 over the run
        return cfg.gamma * (1 - step / total) * sum(p.abs().sum() for p in params)

    result = fit(task.model, task.data, task.retain_idx, tc, task.sink, phase="l1", masks=task.masks,
                 extra_loss=penalty, on_epoch=lambda e: task.end_epoch("l1", e, cfg.epochs))
    return result["image_passes"]


def ga(task: Task, cfg) -> int:
    steps, forget_batch = chunks(task, task.forget_idx, cfg.batch_size)
    stepper = Stepper(task.model, sgd(task.model.parameters(), cfg.lr), task.masks, what="ga")
    task.model.train()
    loop(task, "ga", cfg.epochs, steps, stepper, lambda i: (-task.ce(forget_batch(i)), {}))
    return cfg.epochs * len(task.forget_idx)


def _random_label_loop(task: Task, cfg, phase: str, stepper: Stepper) -> int:
    """Epochs over D_f ∪ D_r in which D_f carries random wrong labels (as in the SalUn code base):
    each batch mixes the two sets in proportion to their sizes."""
    union = torch.cat([task.forget_idx, task.retain_idx])
    steps, union_batch = chunks(task, union, cfg.batch_size)

    def step(i: int):
        idx = union_batch(i)
        x, y = batch(task.data, idx, task.train_cfg, task.generator)
        forget = torch.isin(idx, task.forget_idx).to(y.device)
        y = torch.where(forget, other_labels(y, task.data.num_classes, task.generator), y)
        with autocast(task.device):
            logits = task.model(x).float()
        return F.cross_entropy(logits, y), {"forget_share": forget.float().mean().item()}

    task.model.train()
    loop(task, phase, cfg.epochs, steps, stepper, step)
    return cfg.epochs * len(union)


def rl(task: Task, cfg) -> int:
    stepper = Stepper(task.model, sgd(task.model.parameters(), cfg.lr), task.masks, what="rl")
    return _random_label_loop(task, cfg, "rl", stepper)


def saliency_mask(task: Task, fraction: float) -> dict[str, torch.Tensor]:
    """True where a weight is among the `fraction` with the largest |grad of the GA loss on D_f|."""
    model = task.model
    model.zero_grad(set_to_none=True)
    model.eval()  # the saliency of the trained model, without updating its batch-norm statistics
    for i in range(0, len(task.forget_idx), 256):
        idx = task.forget_idx[i:i + 256].to(task.device)
        x = task.data.images[idx].float().div(255)
        with autocast(task.device):
            loss = -F.cross_entropy(model(x).float(), task.data.labels[idx], reduction="sum")
        loss.backward()
    grads = {n: p.grad.detach().abs() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    flat = torch.cat([g.flatten() for g in grads.values()])
    k = max(1, int(round(fraction * flat.numel())))
    threshold = flat.kthvalue(flat.numel() - k + 1).values
    return {n: g >= threshold for n, g in grads.items()}


def salun(task: Task, cfg) -> int:
    salient = saliency_mask(task, cfg.fraction)
    frozen = {n: ~m for n, m in salient.items()}
    stepper = Stepper(task.model, sgd(task.model.parameters(), cfg.lr), task.masks, what="salun", frozen=frozen)
    return _random_label_loop(task, cfg, "salun", stepper) + len(task.forget_idx)


def scrub(task: Task, cfg) -> int:
    teacher = copy.deepcopy(task.model).eval()
    stepper = Stepper(task.model, sgd(task.model.parameters(), cfg.lr), task.masks, what="scrub")
    t = cfg.temperature

    def kl(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch(task.data, idx, task.train_cfg, task.generator)
        with autocast(task.device):
            student = task.model(x).float()
            with torch.no_grad():
                target = teacher(x).float()
        div = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(target / t, 1), log_target=True,
                       reduction="batchmean") * t * t
        return div, student, y

    f_steps, forget_batch = chunks(task, task.forget_idx, cfg.batch_size)
    r_steps, retain_batch = chunks(task, task.retain_idx, cfg.batch_size)
    total = cfg.max_epochs * f_steps + cfg.epochs * r_steps
    task.sink.emit("phase", phase="scrub", total=total, epochs=cfg.epochs)
    task.model.train()
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        if epoch <= cfg.max_epochs:  # max-steps: move away from the original on D_f
            for i in range(f_steps):
                div, _, _ = kl(forget_batch(i))
                stepper.step(-div)
                step += 1
                task.sink.emit("step", phase="scrub", step=step, total=total, epoch=epoch, loss=-div.item(), max_kl=div.item())
        for i in range(r_steps):  # min-steps: stay close to the original on D_r, and correct
            div, logits, y = kl(retain_batch(i))
            loss = F.cross_entropy(logits, y) + cfg.kl_weight * div
            stepper.step(loss)
            step += 1
            task.sink.emit("step", phase="scrub", step=step, total=total, epoch=epoch, loss=loss.item(), min_kl=div.item())
        task.end_epoch("scrub", epoch, cfg.epochs)
    return cfg.max_epochs * len(task.forget_idx) + cfg.epochs * len(task.retain_idx)
