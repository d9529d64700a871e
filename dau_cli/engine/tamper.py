"""Tamper tests: is a forgotten class really gone, or only hidden behind the outputs? (docs/audit.md)

Output statistics alone can be fooled: `bias_fake` lowers one number per forgotten class (the final
layer's bias) and the model then looks perfectly forgotten to UA and MIA-Efficacy while remembering
everything. Two tests look past the outputs:

- `relearn`: fine-tune a copy for a few SGD steps on a few forget samples mixed with retain samples
  and measure the accuracy on the *other* forget samples. A model that still holds the data gets it
  back in a handful of steps; one retrained without it does not.
- `probe`: a linear probe (logistic regression) on the penultimate features, trained on D_val's
  labels and scored on D_f: whether the representation still separates the forgotten images.

Both return plain numbers; the audit compares them with the same tests on reference models
retrained without D_f. `bias_fake` is the documented fake the audit must catch (used by
`dau demo` and the tests).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from dau_cli.config import TrainConfig
from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet
from dau_cli.engine.train import Stepper, accuracy, autocast, batch as train_batch, predict, sgd
from dau_cli.errors import DauError

HEAD_BIAS = "head.bias"  # every dau Classifier ends in a Linear `head` (models.py)


# ----------------------------------------------------------------------------- the one-number fake


def bias_fake(ckpt: dict, classes: list[int], delta: float = 30.0, data: Data | None = None) -> dict:
    """A copy of `ckpt` whose final-layer bias of each class in `classes` is lowered by `delta`.

    Nothing else changes: weights, masks, data view and metrics are the original's. The lineage gets
    an ordinary-looking `forget` entry (class mode, the classes' exact training indices, method
    "bias-fake"), so `dau audit fake.pt` finds the forget set as it would for a real `dau forget`
    output. `data` (the checkpoint's data view) is loaded from the checkpoint if not given.
    """
    from dau_cli.engine.checkpoint import lineage_entry

    classes = sorted({int(c) for c in classes})
    if not classes:
        raise DauError("bias_fake needs at least one class")
    bad = [c for c in classes if not 0 <= c < ckpt["num_classes"]]
    if bad:
        raise DauError(f"class {bad[0]} is out of range: this model has classes 0..{ckpt['num_classes'] - 1}")
    if data is None:
        from dau_cli.engine.data import load_recorded

        data = load_recorded(ckpt["data"])
    train = data.splits["train"].cpu()
    chosen = train[torch.isin(data.labels.cpu()[train], torch.tensor(classes))].sort().values
    forget = ForgetSet("class", chosen, classes=tuple(classes))
    state = {k: v.clone() for k, v in ckpt["state_dict"].items()}
    state[HEAD_BIAS][classes] -= delta
    entry = lineage_entry("forget", {"delta": float(delta)}, 0.0, 0, "cpu", method="bias-fake", seed=0,
                          forget=forget.describe(), forget_indices=chosen.clone())
    return {**ckpt, "state_dict": state, "lineage": [*ckpt["lineage"], entry]}


# ----------------------------------------------------------------------------- relearning


def relearn(model: torch.nn.Module, data: Data, forget_idx: torch.Tensor, retain_idx: torch.Tensor,
            train_cfg: TrainConfig, steps: tuple[int, ...] = (10, 20, 40), n_forget: int = 10, lr: float = 0.01,
            batch: int | None = None, seed: int = 0, masks: dict[str, torch.Tensor] | None = None) -> dict:
    """Accuracy recovered on D_f by brief fine-tuning of a copy of `model` (the model is untouched).

    `n_forget` forget samples are drawn (seeded) from `forget_idx`; every step trains on all of them
    plus `batch - n_forget` retain samples drawn afresh from `retain_idx`. `batch` defaults to the
    recipe's batch size plus `n_forget` (digits: 10 forget + 128 retain images), so the model keeps
    seeing what it should still know and a model that never learned the class has to learn it from
    10 images against 128 others. SGD at `lr` with the original recipe's momentum, weight decay and
    augmentation, in train mode, through `train.Stepper` so pruning `masks` stay applied. Accuracy
    is measured on the *other* forget samples (never trained on) at step 0 and after each count in
    `steps`.

    Why this mix and these counts (docs/results.md, benchmarks/tamper_check.py): on the digits cnn,
    class 3, five seeds, a model retrained without the class stays at 0 % through 40 steps of this
    mix while the one-number fake recovers 58-82 %; with a third of each batch forget data (batch
    32) the retrained model learned the class from the 10 images within 30 steps, as fast as the
    fake, and the test separated nothing.

    Returns {"steps": [0, ...], "forget_acc": [...], "n_forget": n, "n_eval": m, "lr": lr, "batch": b}.
    """
    forget_idx, retain_idx = forget_idx.cpu(), retain_idx.cpu()
    batch = train_cfg.batch_size + n_forget if batch is None else batch
    if len(forget_idx) <= n_forget:
        raise DauError(f"the relearning test needs more than {n_forget} forget samples (it trains on {n_forget} "
                       f"and measures the rest); the forget set has {len(forget_idx)}")
    if batch <= n_forget or len(retain_idx) == 0:
        raise DauError(f"the relearning batch ({batch}) must hold the {n_forget} forget samples and some retain samples")
    gen = torch.Generator().manual_seed(seed)
    order = forget_idx[torch.randperm(len(forget_idx), generator=gen)]
    train_f, held_out = order[:n_forget], order[n_forget:]
    copy_ = copy.deepcopy(model)
    stepper = Stepper(copy_, sgd(copy_.parameters(), lr, train_cfg.momentum, train_cfg.weight_decay), masks,
                      what="relearning")
    device = data.images.device
    counts = sorted({0, *(int(s) for s in steps)})
    accs = []
    done = 0
    for target in counts:
        copy_.train()
        while done < target:
            r = retain_idx[torch.randint(len(retain_idx), (batch - n_forget,), generator=gen)]
            x, y = train_batch(data, torch.cat([train_f, r]), train_cfg, gen)
            with autocast(device):
                loss = F.cross_entropy(copy_(x).float(), y)
            stepper.step(loss)
            done += 1
        accs.append(accuracy(copy_, data, held_out))
    return {"steps": counts, "forget_acc": accs, "n_forget": n_forget, "n_eval": len(held_out), "lr": lr,
            "batch": batch}


# ----------------------------------------------------------------------------- representation probe


def features(model: torch.nn.Module, data: Data, idx: torch.Tensor) -> np.ndarray:
    """Penultimate features of `idx` (eval mode, no augmentation) as a float64 array (n, feature_dim)."""
    h = predict(model, data, idx, features=True)
    return h.cpu().double().numpy() if len(idx) else np.zeros((0, 0))  # on the CPU first: MPS has no float64


def probe(model: torch.nn.Module, data: Data, forget_idx: torch.Tensor, val_idx: torch.Tensor, seed: int = 0) -> dict:
    """A linear probe on the penultimate features: scikit-learn's LogisticRegression (on standardised
    features) trained on D_val's features and labels, scored on D_f's.

    Returns {"forget_acc": % of D_f the probe labels correctly, "n_train": |D_val|, "n_eval": |D_f|}.
    A model that forgot a class in its representation leaves the probe little to find; one that only
    changed its outputs (e.g. `bias_fake`) leaves it all.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    forget_idx, val_idx = forget_idx.cpu(), val_idx.cpu()
    if len(val_idx) == 0 or len(forget_idx) == 0:
        raise DauError("the probe needs validation images and a non-empty forget set")
    labels = data.labels.cpu().numpy()
    y_val = labels[val_idx.numpy()]
    if len(np.unique(y_val)) < 2:
        raise DauError("the probe needs validation images of at least two classes")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(features(model, data, val_idx), y_val)
    predicted = clf.predict(features(model, data, forget_idx))
    return {"forget_acc": 100.0 * float((predicted == labels[forget_idx.numpy()]).mean()),
            "n_train": len(val_idx), "n_eval": len(forget_idx)}
