"""CUDA path: bf16 autocast and channels_last. Skipped without a GPU (CI has none)."""

from __future__ import annotations

import pytest
import torch

from dau_cli.config import resolve
from dau_cli.engine.checkpoint import load_checkpoint, restore
from dau_cli.engine.forget import unlearn
from dau_cli.engine.forget_sets import select_forget_set
from dau_cli.engine.train import accuracy, fit, predict, prepare
from dau_cli.runs import EventSink

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_training_on_cuda_uses_channels_last_and_learns(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt, "cuda")
    model = prepare(model, torch.device("cuda"))
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    before = accuracy(model, data, data.splits["val"])
    fit(model, data, data.splits["train"], resolve(overrides={"train.epochs": 2})["train"], EventSink())
    assert accuracy(model, data, data.splits["val"]) >= before - 5  # bf16 training still learns
    logits = predict(model, data, data.splits["test"])
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_dau_runs_on_cuda(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt, "cuda")
    fs = select_forget_set(data.labels, data.splits["train"], classes="3", num_classes=data.num_classes)
    cost = unlearn(ckpt, model, data, fs, "dau", resolve(sets=["dau.epochs=1", "dau.attacker_warmup=5"]), EventSink())
    assert cost["device"].startswith("cuda") and cost["image_passes"] > 0


def test_a_restored_model_is_channels_last_on_cuda(tiny_ckpt):
    from dau_cli.engine.checkpoint import restore_model

    model = restore_model(load_checkpoint(tiny_ckpt), "cuda")
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_cuda and conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_compiled_training_on_cuda_learns(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt, "cuda")
    before = accuracy(model, data, data.splits["val"])
    cfg = resolve(overrides={"train.epochs": 1, "train.compile": True})["train"]
    result = fit(model, data, data.splits["train"], cfg, EventSink())
    assert result["steps"] > 0 and accuracy(model, data, data.splits["val"]) >= before - 5
