"""DAU's relearning guard (docs/method.md, "the relearning guard"): each repair step of class
forgetting also lowers how far the forgotten class comes back after one step of a relearning attack."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from dau_cli.engine.train import Stepper, autocast, batch
from dau_cli.engine.unlearn.task import Task


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


def guard(task: Task, masks, radius: float, n: int, weight: float) -> tuple[dict[nn.Parameter, torch.Tensor], float]:
    """The repair's guard against relearning (SAM, Foret et al. 2021, pointed at relearning as in
    Fan et al. 2025): the first step of a relearning attack (`radius` down the cross-entropy of `n`
    augmented forget images under their own labels), and there, on the same batch, a hinge on how
    far their forgotten-class logit rises above the best remaining class. Returns the gradient of
    `weight` x hinge at the moved weights for the body's parameters (through the head the guard
    would push the forgotten class down on every input) and the hinge; the weights are restored."""
    model = task.model
    x, y = batch(task.data, task.sample(task.forget_idx, n), task.train_cfg, task.generator)
    head = {id(p) for p in model.head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head and p.requires_grad]

    def logits() -> torch.Tensor:
        with autocast(x.device):
            return model(x).float()

    with relearning_step(model, F.cross_entropy(logits(), y), radius, masks):
        z = logits()
        mine = z.gather(1, y[:, None]).squeeze(1)
        others = z.index_fill(1, torch.tensor(task.forget.classes, device=z.device), float("-inf"))
        hinge = F.relu(mine - others.max(1).values).mean()
        grads = torch.autograd.grad(weight * hinge, body, allow_unused=True)
    return {p: g for p, g in zip(body, grads) if g is not None}, hinge.item()


def step_adding(stepper: Stepper, loss: torch.Tensor, extra: dict[nn.Parameter, torch.Tensor]) -> None:
    """One step of `stepper` on `loss`, with `extra` (parameter -> gradient) added to its gradients."""
    stepper.optimizer.zero_grad(set_to_none=True)
    for p, g in extra.items():
        p.grad = g.clone()  # backward adds to .grad in place; `extra` stays as given
    stepper.step(loss, accumulate=True)
