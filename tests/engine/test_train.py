"""The training loop: it learns, it is reproducible from its seed, pruned weights stay zero, and a
diverging loss stops it."""

from __future__ import annotations

import pytest
import torch

from dau_cli.config import TrainConfig
from dau_cli.engine.checkpoint import load_checkpoint
from dau_cli.engine.data import load_data
from dau_cli.engine.models import build_model
from dau_cli.engine.train import Diverged, Stepper, fit, pick_device, sgd
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

CFG = TrainConfig(epochs=1, batch_size=64, lr=0.05, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("cnn", 10, (1, 8, 8), width=8)


def test_training_learns(tiny_ckpt):
    metrics = load_checkpoint(tiny_ckpt)["metrics"]
    assert metrics["test_acc"] > 60 and metrics["train_acc"] > 60  # chance is 10 %


def test_fit_counts_image_passes_and_steps(digits):
    idx = digits.splits["train"][:200]
    result = fit(small_model(), digits, idx, TrainConfig(epochs=2, batch_size=64, device="cpu"), EventSink())
    assert result["image_passes"] == 400 and result["steps"] == 2 * 4 and result["wall_time_s"] > 0


def test_same_seed_same_weights(digits):
    idx = digits.splits["train"][:256]
    a, b, c = small_model(), small_model(), small_model()
    fit(a, digits, idx, CFG, EventSink())
    fit(b, digits, idx, CFG, EventSink())
    fit(c, digits, idx, TrainConfig(epochs=1, batch_size=64, lr=0.05, device="cpu", seed=1), EventSink())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_pruned_weights_stay_exactly_zero(digits):
    model = small_model()
    mask = torch.rand_like(model.head.weight) > 0.5
    fit(model, digits, digits.splits["train"][:256], CFG, EventSink(), masks={"head.weight": mask})
    w = model.head.weight.detach()
    assert torch.all(w[~mask] == 0) and torch.all(w[mask] != 0)


def test_a_non_finite_loss_stops_without_touching_the_weights():
    model = small_model()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    stepper = Stepper(model, sgd(model.parameters(), 0.1))
    loss = model(torch.rand(2, 1, 8, 8)).sum() * float("nan")
    with pytest.raises(Diverged, match="lower learning rate"):
        stepper.step(loss)
    assert isinstance(Diverged("x"), DauError)  # so the CLI reports it as one line
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_very_short_runs_train(digits, steps):
    """A handful of steps (tiny forget sets, big batches) must not trip the learning-rate schedule."""
    for schedule in ("onecycle", "cosine"):
        cfg = TrainConfig(epochs=1, batch_size=10, schedule=schedule, device="cpu")
        assert fit(small_model(), digits, digits.splits["train"][:10 * steps], cfg, EventSink())["steps"] == steps


def test_device_names():
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(DauError, match="auto, cpu, cuda or mps"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DauError, match="--device cpu"):
            pick_device("cuda")


def test_mps_is_used_where_torch_has_it_and_auto_prefers_cuda(monkeypatch):
    """Nothing runs on MPS here: torch.device("mps") is only a name until a tensor goes there."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("mps") == torch.device("mps")
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(DauError, match="^--device mps was asked for but this torch has no MPS backend here; "
                                       "use --device cpu or auto$"):
        pick_device("mps")


def test_mps_is_not_treated_as_cuda(monkeypatch):
    """No bf16 autocast and no GPU request for MPS; float64 work moves to the CPU (MPS has none); a
    wall time waits for MPS's queue, not CUDA's."""
    from contextlib import nullcontext
    from types import SimpleNamespace

    from dau_cli.engine import train
    from dau_cli.engine.jobs import _wants_gpu

    mps = torch.device("mps")
    assert isinstance(train.autocast(mps), nullcontext)
    assert not _wants_gpu(SimpleNamespace(spec={"device": "mps"}), cluster_gpus=2)
    assert train.float64_device(mps) == torch.device("cpu")
    assert train.float64_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    waited = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append("mps"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append("cuda"))
    train.synchronize(mps)
    train.synchronize(torch.device("cpu"))
    assert waited == ["mps"]


def test_train_compile_routes_the_training_forward_through_torch_compile(monkeypatch):
    import torch

    from dau_cli.config import resolve
    from dau_cli.engine.data import load_data
    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import fit
    from dau_cli.runs import EventSink

    calls = []

    def fake_compile(model):  # torch.compile itself takes a minute on a small CPU; its wiring is what is tested
        calls.append(model)
        return lambda x: (calls.append("forward"), model(x))[1]

    monkeypatch.setattr(torch, "compile", fake_compile)
    data = load_data("digits")
    model = build_model("cnn", 10, data.input_shape, width=4)
    for flag in (False, True):
        cfg = resolve(overrides={"train.epochs": 1, "train.batch_size": 512, "train.compile": flag})["train"]
        fit(model, data, data.splits["train"][:1024], cfg, EventSink())
    assert calls == [model, "forward", "forward"]  # compiled once, used for both steps, only when asked


def test_an_accumulating_step_adds_to_the_gradients_already_there():
    """`Stepper.step(loss, accumulate=True)` keeps a caller's own backward (the DAU repair's guard)."""
    torch.manual_seed(0)
    x = torch.randn(16, 4)
    steps = {}
    for accumulate in (False, True):
        torch.manual_seed(1)
        model = torch.nn.Linear(4, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.weight.grad = torch.ones_like(model.weight)  # what a caller left there
        model.bias.grad = torch.ones_like(model.bias)
        before = model.weight.detach().clone()
        Stepper(model, opt).step(model(x).pow(2).mean(), accumulate=accumulate)
        steps[accumulate] = before - model.weight.detach()
    assert torch.allclose(steps[True] - steps[False], torch.full_like(steps[True], 0.1))
