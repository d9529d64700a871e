"""Unlearning methods on tiny data: each runs and changes the model, and keeps its promises."""

from __future__ import annotations

import pytest
import torch

from dau_cli.config import resolve
from dau_cli.engine.checkpoint import load_checkpoint, new_checkpoint, restore
from dau_cli.engine.data import Data
from dau_cli.engine.forget import unlearn
from dau_cli.engine.forget_sets import ForgetSet, retain_indices, select_forget_set
from dau_cli.engine.models import build_model
from dau_cli.engine.unlearn import METHODS
from dau_cli.engine.unlearn.dau import observe as OBSERVE  # the real one, for tests that count its calls
from dau_cli.runs import EventSink

# one short pass of every method, so the whole file stays fast on 2 CPU cores
FAST = ["dau.epochs=1", "dau.sample_epochs=1", "dau.attacker_warmup=5", "dau.forget_batch=32", "ft.epochs=1", "ga.epochs=1", "rl.epochs=1",
        "l1.epochs=1", "salun.epochs=1", "scrub.epochs=1", "scrub.max_epochs=1", "retrain.epochs=1",
        "dau-authors.steps=3", "dau-authors.attacker_warmup=2", "dau-authors.noise_copies=2"]


def setup(tiny_ckpt, classes: str = "3"):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt, "cpu")
    fs = select_forget_set(data.labels, data.splits["train"], classes=classes, num_classes=data.num_classes)
    return ckpt, model, data, fs


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_and_changes_the_model(tiny_ckpt, method):
    ckpt, model, data, fs = setup(tiny_ckpt)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    events = []
    sink = EventSink()
    sink.listeners.append(events.append)
    cost = unlearn(ckpt, model, data, fs, method, resolve(sets=FAST), sink, seed=0)
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, f"{method} left every weight as it was"
    assert cost["image_passes"] > 0 and cost["wall_time_s"] > 0
    kinds = {e["type"] for e in events}
    assert {"phase", "step", "epoch"} <= kinds
    epoch = [e for e in events if e["type"] == "epoch"][-1]
    assert {"forget_acc", "retain_acc", "val_acc"} <= set(epoch["metrics"]) and "confidence" in epoch["auc"]


def test_salun_leaves_masked_weights_bit_identical(tiny_ckpt):
    from dau_cli.engine.unlearn import Task
    from dau_cli.engine.unlearn.baselines import saliency_mask

    ckpt, model, data, fs = setup(tiny_ckpt)
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    task = Task(model=model, data=data, forget=fs, retain_idx=retain_indices(data.splits["train"], fs.indices),
                train_cfg=resolve()["train"], arch=ckpt["arch"], arch_args=ckpt["arch_args"], sink=EventSink())
    salient = saliency_mask(task, 0.3)
    unlearn(ckpt, model, data, fs, "salun", resolve(sets=FAST + ["salun.fraction=0.3", "salun.lr=0.1"]), EventSink())
    moved = 0
    for n, p in model.named_parameters():
        frozen = ~salient[n]
        assert torch.equal(p.detach()[frozen], original[n][frozen]), f"{n}: a non-salient weight moved"
        moved += int((p.detach()[salient[n]] != original[n][salient[n]]).sum())
    assert moved > 0  # the salient weights did change
    share = sum(int(m.sum()) for m in salient.values()) / sum(m.numel() for m in salient.values())
    assert 0.25 < share < 0.35


def test_retrain_never_sees_the_forget_set(tiny_ckpt, monkeypatch):
    import dau_cli.engine.train as train

    ckpt, model, data, fs = setup(tiny_ckpt, classes="3,5")
    seen: list[torch.Tensor] = []
    real_batch = train.batch

    def spy(data_, idx, cfg, gen):
        seen.append(idx.clone())
        return real_batch(data_, idx, cfg, gen)

    monkeypatch.setattr(train, "batch", spy)
    unlearn(ckpt, model, data, fs, "retrain", resolve(sets=FAST), EventSink())
    everything = torch.cat(seen)
    assert len(everything) > 0
    assert not torch.isin(everything, fs.indices).any()
    assert set(everything.tolist()) == set(retain_indices(data.splits["train"], fs.indices).tolist())


def test_dau_attacker_sees_exactly_the_audits_statistics(tiny_ckpt):
    import dau_cli.engine.audit as audit
    from dau_cli.engine.stats import attacker_features, sample_stats
    from dau_cli.engine.unlearn.dau import observe

    ckpt, model, data, fs = setup(tiny_ckpt)
    model.eval()
    idx = fs.indices[:16]
    x = data.images[idx].float() / 255
    y = data.labels[idx]
    _, logits, phi = observe(model, x, y, label_free=True, input_sensitivity=False, create_graph=False)
    s = sample_stats(logits, y)
    assert torch.allclose(phi, attacker_features(logits, y, label_free=True))
    k = 10
    assert torch.allclose(phi[:, :k], s["probs"].sort(dim=1, descending=True).values)
    for col, name in enumerate(["entropy", "confidence", "logit_scaled_confidence", "loss", "modified_entropy",
                                "grad_norm"]):
        assert torch.allclose(phi[:, k + col], s[name]), name
    assert audit.sample_stats is sample_stats  # the audit computes its attacks from the same function
    _, _, phi_class = observe(model, x, y, label_free=False, input_sensitivity=True, create_graph=False)
    assert phi_class.shape[1] == 6  # label-aware (4) + ||p - e_y|| + ||grad_x loss||


def separable_problem(n_per_class: int = 60, classes: int = 3) -> tuple[dict, torch.nn.Module, Data]:
    """Three 8x8 patterns (a row, a column, a diagonal) plus noise; a cnn learns them perfectly."""
    g = torch.Generator().manual_seed(0)
    patterns = torch.zeros(classes, 8, 8)
    patterns[0, 3, :] = 1
    patterns[1, :, 3] = 1
    patterns[2] = torch.eye(8)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    x = patterns[labels] * 200 + torch.rand(len(labels), 8, 8, generator=g) * 55
    images = x.round().clamp(0, 255).to(torch.uint8)[:, None]
    perm = torch.randperm(len(labels), generator=g)
    splits = {"train": perm[: len(perm) * 6 // 10].sort().values, "val": perm[len(perm) * 6 // 10: len(perm) * 8 // 10].sort().values,
              "test": perm[len(perm) * 8 // 10:].sort().values}
    data = Data("synthetic", "", images, labels, splits, [str(c) for c in range(classes)])
    config = resolve(overrides={"model.width": 8, "train.epochs": 15, "train.batch_size": 32, "train.crop_pad": 0})
    torch.manual_seed(0)
    model = build_model("cnn", classes, (1, 8, 8), width=8)
    from dau_cli.config import as_dict
    from dau_cli.engine.train import fit

    fit(model, data, splits["train"], config["train"], EventSink())
    ckpt = new_checkpoint(model, "cnn", {"width": 8}, data.describe(), as_dict(config), {},
                          [{"op": "train", "config": as_dict(config)}])
    return ckpt, model, data


def test_dau_class_forgetting_on_a_separable_problem():
    from dau_cli.engine.train import accuracy

    ckpt, model, data = separable_problem()
    train = data.splits["train"]
    forget = train[data.labels[train] == 0]
    retain = retain_indices(train, forget)
    assert accuracy(model, data, forget) == 100.0 and accuracy(model, data, retain) == 100.0
    fs = ForgetSet("class", forget, classes=(0,))
    # the toy's 32 forget samples make 2 steps an epoch; a larger step than digits' defaults lets
    # 15 epochs suffice (with the defaults it takes ~29)
    config = resolve(sets=["dau.epochs=15", "dau.forget_batch=16", "dau.attacker_warmup=20", "dau.lr=0.05",
                           "dau.alpha=1"])
    sink, events = EventSink(), []
    sink.listeners.append(events.append)
    unlearn(ckpt, model, data, fs, "dau", config, sink)
    assert accuracy(model, data, forget) < 20.0
    assert accuracy(model, data, retain) > 95.0
    # once the forget accuracy reaches dau.forgotten_acc, the game stops and dau.repair_steps steps
    # train on D_r alone: no attacker step, no adversarial or alignment term, and the class stays forgotten
    epochs = [e for e in events if e["type"] == "epoch" and e["phase"] == "dau"]
    switched = next(e["epoch"] for e in epochs if e["metrics"]["forget_acc"] <= 1.0)
    assert switched < 15, "the toy should be forgotten before the last epoch"
    assert epochs[-1]["epoch"] == switched, "the game stops once the class is forgotten"
    assert any("forgotten" in e.get("message", "") for e in events if e["type"] == "log")
    steps = [e for e in events if e["type"] == "step" and e["phase"] == "dau"]
    assert steps and all("adv" in e and "attacker_loss" in e for e in steps)
    repair = [e for e in events if e["type"] == "step" and e["phase"] == "repair"]
    assert len(repair) == config["dau"].repair_steps
    assert all("adv" not in e and "attacker_loss" not in e and "guard" in e for e in repair)
    after = [e for e in events if e["type"] == "epoch" and e["phase"] == "repair"]
    assert len(after) == 1 and after[0]["metrics"]["forget_acc"] <= 1.0


def _task(ckpt, model, data, fs, masks=None):
    from dau_cli.engine.unlearn import Task

    return Task(model=model, data=data, forget=fs, retain_idx=retain_indices(data.splits["train"], fs.indices),
                train_cfg=resolve()["train"], arch=ckpt["arch"], arch_args=ckpt["arch_args"], sink=EventSink(),
                masks=masks)


def test_relearning_step_moves_by_the_radius_down_the_loss_and_back(tiny_ckpt):
    """The guard's relearning step: all weights move `radius` (in norm) down D_f's loss under its own
    labels, pruned weights stay 0 inside it, and leaving restores every weight bit for bit."""
    from dau_cli.engine.train import Masks
    from dau_cli.engine.unlearn.guard import relearning_step

    ckpt, model, data, fs = setup(tiny_ckpt)
    name = "body.0.weight"
    mask = torch.rand(dict(model.named_parameters())[name].shape, generator=torch.Generator().manual_seed(0)) > 0.5
    with torch.no_grad():
        dict(model.named_parameters())[name].mul_(mask)
    task = _task(ckpt, model, data, fs)
    model.train()
    idx = fs.indices[:32]
    before = [p.detach().clone() for p in model.parameters()]
    loss_before = task.ce(idx, torch.full((32,), 3)).item()
    torch.manual_seed(0)
    with relearning_step(model, task.ce(idx), 0.5, Masks(model, {name: mask})):
        moved = [p.detach().clone() for p in model.parameters()]
        loss_inside = task.ce(idx).item()
    distance = torch.sqrt(sum(((m - b) ** 2).sum() for m, b in zip(moved, before)))
    assert distance.item() == pytest.approx(0.5, rel=1e-4)
    assert loss_inside < loss_before
    assert (dict(zip([n for n, _ in model.named_parameters()], moved))[name][~mask] == 0).all()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


def test_relearning_guard_returns_gradients_of_the_body_only(tiny_ckpt):
    """Against the untouched model (the class not forgotten) the hinge is positive; the guard returns
    its gradient for the body's weights only, leaves every `.grad` alone, and the weights are as they were."""
    from dau_cli.engine.train import Stepper, sgd
    from dau_cli.engine.unlearn.guard import guard

    ckpt, model, data, fs = setup(tiny_ckpt)
    task = _task(ckpt, model, data, fs)
    before = [p.detach().clone() for p in model.parameters()]
    stepper = Stepper(model, sgd(model.parameters(), 0.01))
    model.train()
    grads, hinge = guard(task, stepper.masks, radius=1.0, n=32, weight=0.5)
    assert hinge > 0
    head = {id(p) for p in model.head.parameters()}
    assert grads and not any(id(p) in head for p in grads)
    assert {id(p) for p in grads} == {id(p) for p in model.body.parameters()}
    assert any(g.abs().sum() > 0 for g in grads.values())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


def test_a_repair_step_adds_the_guards_gradients_to_its_own(tiny_ckpt):
    """step_adding: one optimiser step on the loss's gradients plus the given ones, here the
    same as a step on loss + (the given gradient . the weights)."""
    from dau_cli.engine.train import Stepper, sgd
    from dau_cli.engine.unlearn.guard import step_adding

    ckpt, model, data, fs = setup(tiny_ckpt)
    task = _task(ckpt, model, data, fs)
    idx = task.retain_idx[:32]
    model.eval()  # no batch-norm statistics move, so both runs start alike
    start = {k: v.clone() for k, v in model.state_dict().items()}
    extra = {p: torch.full_like(p, 0.01) for p in model.body.parameters()}
    moved = []
    for add in (True, False):
        model.load_state_dict(start)
        stepper = Stepper(model, sgd(model.parameters(), 0.1, momentum=0.0, weight_decay=0.0))
        task.generator.manual_seed(0)
        if add:
            step_adding(stepper, task.ce(idx), extra)
        else:
            stepper.step(task.ce(idx) + sum((p * g).sum() for p, g in extra.items()))
        moved.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(*moved))
    assert not all(torch.equal(a, start[n]) for (n, _), a in zip(model.named_parameters(), moved[0]))


def test_relearning_guard_measures_the_batch_it_relearned_on(tiny_ckpt):
    """As SAM: one augmented batch of forget images takes the relearning step, and the hinge is
    measured on that same batch at the moved weights (not on a second augmentation of it, which
    the random crop makes give another value)."""
    import torch.nn.functional as F

    from dau_cli.engine.train import Stepper, batch, sgd
    from dau_cli.engine.unlearn.guard import guard, relearning_step

    ckpt, model, data, fs = setup(tiny_ckpt)
    task = _task(ckpt, model, data, fs)
    stepper = Stepper(model, sgd(model.parameters(), 0.01))
    model.train()
    state = task.generator.get_state()
    _, hinge = guard(task, stepper.masks, radius=1.0, n=32, weight=0.5)

    def hinge_of(z: torch.Tensor, y: torch.Tensor) -> float:
        others = z.clone()
        others[:, fs.classes] = float("-inf")
        return F.relu(z.gather(1, y[:, None]).squeeze(1) - others.max(1).values).mean().item()

    task.generator.set_state(state)
    idx = task.sample(task.forget_idx, 32)
    x, y = batch(data, idx, task.train_cfg, task.generator)
    with relearning_step(model, F.cross_entropy(model(x), y), 1.0, stepper.masks), torch.no_grad():
        same = hinge_of(model(x), y)
        other = hinge_of(model(batch(data, idx, task.train_cfg, task.generator)[0]), y)
    assert hinge > 0
    assert hinge == pytest.approx(same, rel=1e-5)
    assert hinge != pytest.approx(other, rel=1e-3)


def test_pruned_weights_stay_zero_through_every_method(tiny_ckpt):
    from dau_cli.engine.checkpoint import pack_masks, prunable

    ckpt, model, data, fs = setup(tiny_ckpt)
    # a random 50 % mask over every prunable weight, as `dau prune` would store it
    g = torch.Generator().manual_seed(0)
    masks = {n: torch.rand(t.shape, generator=g) > 0.5 for n, t in ckpt["state_dict"].items() if prunable(n, t)}
    sd = {n: (t * masks[n] if n in masks else t) for n, t in ckpt["state_dict"].items()}
    sparse = {**ckpt, "state_dict": sd, "masks": pack_masks(masks)}
    for method in sorted(METHODS):
        model, data = restore(sparse, "cpu")
        unlearn(sparse, model, data, fs, method, resolve(sets=FAST), EventSink())
        state = model.state_dict()
        for n, m in masks.items():
            assert (state[n][~m] == 0).all(), f"{method}: pruned weights of {n} came back"


def _dau_events(tiny_ckpt, spec: dict, sets: list[str], monkeypatch=None, counter: list | None = None):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt, "cpu")
    fs = select_forget_set(data.labels, data.splits["train"], num_classes=data.num_classes, **spec)
    if counter is not None:
        from dau_cli.engine.unlearn import dau as dau_module

        def counting(*args, **kwargs):
            counter.append(kwargs.get("create_graph"))
            return OBSERVE(*args, **kwargs)

        monkeypatch.setattr(dau_module, "observe", counting)
    sink, events = EventSink(), []
    sink.listeners.append(events.append)
    unlearn(ckpt, model, data, fs, "dau", resolve(sets=["dau.attacker_warmup=5", "dau.forget_batch=32", *sets]), sink)
    return events


def test_dau_epochs_by_mode(tiny_ckpt):
    """dau.epochs is class forgetting's length, dau.sample_epochs random (and index) forgetting's."""
    sets = ["dau.epochs=3", "dau.sample_epochs=2"]
    for spec, want in (({"classes": "3"}, 3), ({"random": 0.1, "seed": 0}, 2)):
        phases = [e for e in _dau_events(tiny_ckpt, spec, sets) if e["type"] == "phase" and e["phase"] == "dau"]
        assert [p["epochs"] for p in phases] == [want], spec


def test_dau_attacker_steps_are_fresh_queries(tiny_ckpt, monkeypatch):
    """Each of the `attacker_steps` attacker steps per game step queries the model afresh in eval mode
    (a forget and a reference batch: 2 calls); the defender's step is one differentiable call."""
    sets = ["dau.sample_epochs=2"]
    one, two = [], []
    ev_one = _dau_events(tiny_ckpt, {"random": 0.1, "seed": 0}, sets, monkeypatch, one)
    _dau_events(tiny_ckpt, {"random": 0.1, "seed": 0}, [*sets, "dau.attacker_steps=2"], monkeypatch, two)
    steps = [e for e in ev_one if e["type"] == "step" and e["phase"] == "dau"]
    assert steps and all("attacker_loss" in e for e in steps)
    assert one.count(True) == two.count(True) == len(steps)
    assert two.count(False) - one.count(False) == 2 * len(steps)


def test_dau_on_a_single_sample_is_one_line_and_two_samples_work(dau, user_error, tiny_ckpt, tmp_path):
    from dau_cli.engine.checkpoint import load_checkpoint

    train = load_checkpoint(tiny_ckpt)["data"]["splits"]["train"].tolist()
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text(f"{train[0]}\n")
    two.write_text(f"{train[0]}\n{train[1]}\n")
    line = user_error(dau("forget", tiny_ckpt, "--indices", one, "-o", tmp_path / "a.pt", "--set", "dau.epochs=1"))
    assert "at least 2 samples" in line and not (tmp_path / "a.pt").exists()
    r = dau("forget", tiny_ckpt, "--indices", two, "-o", tmp_path / "b.pt", "--set", "dau.epochs=1", "--json")
    assert r.exit_code == 0 and (tmp_path / "b.pt").exists(), r.output


def test_epoch_events_measure_a_fixed_draw_of_a_large_set(tiny_ckpt, monkeypatch):
    """end_epoch's metrics: a set up to EPOCH_SAMPLE is measured whole; a larger one on the same
    sorted draw of EPOCH_SAMPLE of its own indices at every epoch."""
    from dau_cli.engine.unlearn import task as task_module

    ckpt, model, data, fs = setup(tiny_ckpt)
    task = _task(ckpt, model, data, fs)
    idx = torch.arange(100, 400)
    assert torch.equal(task.epoch_sample(idx), idx)
    monkeypatch.setattr(task_module, "EPOCH_SAMPLE", 50)
    drawn = task.epoch_sample(idx)
    assert len(drawn) == 50 and torch.equal(drawn, task.epoch_sample(idx))
    assert torch.equal(drawn, drawn.sort().values) and bool(torch.isin(drawn, idx).all())
    assert len(set(drawn.tolist())) == 50
