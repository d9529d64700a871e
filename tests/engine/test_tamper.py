"""Tamper tests: the one-number fake, relearning and the representation probe, on tiny models."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from dau_cli.config import resolve
from dau_cli.engine.audit import forget_set_for_audit
from dau_cli.engine.checkpoint import load_checkpoint, restore, restore_model
from dau_cli.engine.forget_sets import retain_indices, select_forget_set
from dau_cli.engine.models import build_model
from dau_cli.engine.tamper import bias_fake, probe, relearn
from dau_cli.engine.train import fit, predict
from dau_cli.errors import DauError
from dau_cli.runs import EventSink
from test_unlearn import separable_problem


@pytest.fixture(scope="module")
def tiny(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    fs = select_forget_set(data.labels, data.splits["train"], classes="3", num_classes=data.num_classes)
    return ckpt, model, data, fs


@pytest.fixture(scope="module")
def toy():
    """The separable 3-pattern problem: the original (all classes), a model trained the same way
    without class 0 (it never saw the class), class 0's training images and D_r."""
    ckpt, model, data = separable_problem()
    train = data.splits["train"]
    forget = train[data.labels[train] == 0]
    retain = retain_indices(train, forget)
    cfg = resolve(base=ckpt["config"])["train"]
    torch.manual_seed(1)
    never = build_model("cnn", 3, (1, 8, 8), width=8)
    fit(never, data, retain, replace(cfg, seed=1), EventSink())
    return ckpt, model, never, data, forget, retain, cfg


def test_bias_fake_changes_one_number_per_class_and_looks_like_a_forget_output(tiny):
    ckpt, _, data, _ = tiny
    before = {k: v.clone() for k, v in ckpt["state_dict"].items()}
    fake = bias_fake(ckpt, [5, 3], delta=30.0, data=data)
    changed = {(k, i) for k, v in fake["state_dict"].items()
               for i in torch.nonzero(v != ckpt["state_dict"][k]).flatten().tolist()}
    assert changed == {("head.bias", 3), ("head.bias", 5)}
    assert torch.allclose(fake["state_dict"]["head.bias"][[3, 5]], ckpt["state_dict"]["head.bias"][[3, 5]] - 30.0)
    assert all(torch.equal(before[k], ckpt["state_dict"][k]) for k in before), "the input checkpoint was modified"
    assert fake["lineage"][:-1] == ckpt["lineage"] and fake["data"] is ckpt["data"]
    entry = fake["lineage"][-1]
    assert entry["op"] == "forget" and entry["method"] == "bias-fake" and entry["forget"]["mode"] == "class"
    expected = select_forget_set(data.labels, data.splits["train"], classes="3,5", num_classes=10).indices
    assert torch.equal(torch.as_tensor(entry["forget_indices"]), expected)
    # `dau audit fake.pt` finds the forget set as it would for a real `dau forget` output
    found = forget_set_for_audit(fake, data)
    assert found.mode == "class" and found.classes == (3, 5) and torch.equal(found.indices, expected)
    # without `data`, the checkpoint's own data view is loaded: same answer
    assert torch.equal(torch.as_tensor(bias_fake(ckpt, [3, 5])["lineage"][-1]["forget_indices"]), expected)
    with pytest.raises(DauError, match="out of range"):
        bias_fake(ckpt, [10], data=data)


def test_bias_fake_keeps_every_other_prediction_and_hides_the_class(tiny):
    ckpt, model, data, _ = tiny
    fake = restore_model(bias_fake(ckpt, [3], data=data))
    idx = torch.cat([data.splits["val"], data.splits["test"]])
    before, after = predict(model, data, idx).argmax(1), predict(fake, data, idx).argmax(1)
    not_three = before != 3
    assert not_three.sum() > 200 and torch.equal(after[not_three], before[not_three])
    assert (after != 3).all(), "the class is still predicted after lowering its bias by 30"


def test_relearning_restores_a_fake_quickly_and_not_a_model_that_never_saw_the_class(toy):
    ckpt, original, never, data, forget, retain, cfg = toy
    fake = restore_model(bias_fake(ckpt, [0], delta=30.0, data=data))
    weights = {k: v.clone() for k, v in fake.state_dict().items()}
    r_fake = relearn(fake, data, forget, retain, cfg, steps=(10, 20, 40))
    r_never = relearn(never, data, forget, retain, cfg, steps=(10, 20, 40))
    r_original = relearn(original, data, forget, retain, cfg, steps=(10, 20, 40))
    assert r_fake["steps"] == [0, 10, 20, 40] and r_fake["n_forget"] == 10 and r_fake["n_eval"] == len(forget) - 10
    assert r_fake["batch"] == cfg.batch_size + 10 and r_fake["lr"] == 0.01
    assert r_fake["forget_acc"][0] == 0.0 and r_fake["forget_acc"][2] >= 90.0
    assert max(r_never["forget_acc"]) <= 10.0
    assert min(r_original["forget_acc"]) >= 90.0
    assert all(torch.equal(weights[k], v) for k, v in fake.state_dict().items()), "relearn changed the model itself"
    # seeded: the same call gives the same curve
    assert relearn(fake, data, forget, retain, cfg, steps=(10, 20, 40)) == r_fake


def test_relearning_keeps_pruned_weights_zero(tiny, tamper_steppers):
    ckpt, model, data, fs = tiny
    g = torch.Generator().manual_seed(0)
    masks = {n: torch.rand(p.shape, generator=g) > 0.5 for n, p in model.named_parameters() if p.dim() > 1}
    sparse = restore_model({**ckpt, "state_dict": {n: (t * masks[n] if n in masks else t)
                                                   for n, t in ckpt["state_dict"].items()}})
    steppers = tamper_steppers
    cfg = resolve(base=ckpt["config"])["train"]
    relearn(sparse, data, fs.indices, retain_indices(data.splits["train"], fs.indices), cfg, steps=(5,), masks=masks)
    (stepper,) = steppers
    assert stepper.count == 5
    tuned = dict(stepper.model.named_parameters())
    for n, m in masks.items():
        assert (tuned[n][~m] == 0).all(), f"pruned weights of {n} came back"
        assert (tuned[n][m] != sparse.state_dict()[n][m]).any(), f"{n} was not trained at all"


def test_relearning_needs_forget_samples_left_to_measure(tiny):
    ckpt, model, data, fs = tiny
    cfg = resolve(base=ckpt["config"])["train"]
    with pytest.raises(DauError, match="more than 10 forget samples"):
        relearn(model, data, fs.indices[:10], data.splits["train"][:50], cfg)


def test_probe_finds_the_class_in_the_original_and_the_fakes_features(tiny):
    ckpt, model, data, fs = tiny
    p = probe(model, data, fs.indices, data.splits["val"])
    assert p["n_train"] == len(data.splits["val"]) and p["n_eval"] == len(fs.indices)
    assert p["forget_acc"] > 60.0  # chance is 10 % on ten classes
    fake = restore_model(bias_fake(ckpt, [3], data=data))
    assert probe(fake, data, fs.indices, data.splits["val"]) == p  # identical features, identical probe
    # a network that learned nothing gives the probe little to find (the labels come from features)
    torch.manual_seed(0)
    blank = build_model("cnn", 10, data.input_shape, width=8)
    assert probe(blank, data, fs.indices, data.splits["val"])["forget_acc"] < p["forget_acc"]
