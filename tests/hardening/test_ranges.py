"""Group 1: every setting is range-checked where it is declared, from a flag, a recipe or --set alike."""

from __future__ import annotations

import dataclasses
import math

import pytest

from dau_cli.config import SECTIONS, resolve
from dau_cli.errors import DauError


def test_every_default_passes_its_own_check_and_every_number_declares_a_range():
    resolve()  # constructing each section checks every field
    for name, section in SECTIONS.items():
        for f in dataclasses.fields(section):
            if f.type in (int, float, "int", "float"):
                assert {"min", "above"} & set(f.metadata) and {"max", "below"} & set(f.metadata), f"{name}.{f.name}"


@pytest.mark.parametrize("setting, says", [
    ("train.epochs=0", "train.epochs must be at least 1"),
    ("train.batch_size=0", "train.batch_size must be at least 1"),
    ("train.lr=-1", "train.lr must be above 0"),
    ("train.lr=nan", "train.lr must be above 0"),
    ("train.lr=inf", "train.lr must be above 0"),
    ("train.momentum=1.5", "train.momentum must be at least 0 and below 1"),
    ("train.seed=-1", "train.seed must be at least 0"),
    ("model.width=0", "model.width must be at least 1"),
    ("model.arch=mlp", "model.arch must be one of cnn, lenet, resnet18, vgg16_bn"),
    ("train.device=tpu", "train.device must be one of auto, cpu, cuda, mps or cuda:N"),
    ("train.schedule=linear", "train.schedule must be one of onecycle, cosine"),
    ("data.dataset=imagenet", "data.dataset must be one of digits, fashion-mnist, mnist, cifar10, cifar100, svhn or folder:PATH"),
])
def test_train_refuses_out_of_range_settings(refused, tmp_path, setting, says):
    refused("train", "--set", setting, "-o", tmp_path / "m.pt", says=[says, "(from --set)"])


@pytest.mark.parametrize("flag, value, key", [("--epochs", "0", "train.epochs"), ("--batch-size", "0", "train.batch_size"),
                                              ("--lr", "-1", "train.lr"), ("--model", "mlp", "model.arch")])
def test_a_flag_and_set_are_checked_alike(refused, tmp_path, flag, value, key):
    by_flag = refused("train", flag, value, "-o", tmp_path / "m.pt")
    by_set = refused("train", "--set", f"{key}={value}", "-o", tmp_path / "m.pt")
    assert by_flag.replace("(from a flag)", "") == by_set.replace("(from --set)", "")


@pytest.mark.parametrize("method, setting, says", [
    ("dau", "dau.epochs=-1", "dau.epochs must be at least 1"),
    ("dau", "dau.epochs=0", "dau.epochs must be at least 1"),
    ("dau", "dau.holdout=2", "dau.holdout must be above 0 and below 1"),
    ("dau", "dau.holdout=0", "dau.holdout must be above 0 and below 1"),
    ("dau-authors", "dau-authors.noise_copies=0", "dau-authors.noise_copies must be at least 1"),
    ("dau", "dau.adv_loss=hinge", "dau.adv_loss must be one of nonsaturating, minimax"),
    ("ft", "ft.epochs=-3", "ft.epochs must be at least 1"),
    ("ga", "ga.batch_size=0", "ga.batch_size must be at least 1"),
    ("salun", "salun.fraction=0", "salun.fraction must be above 0"),
    ("scrub", "scrub.temperature=0", "scrub.temperature must be above 0"),
    ("retrain", "retrain.epochs=-1", "retrain.epochs must be at least 0"),
])
def test_forget_refuses_out_of_range_method_settings(refused, ckpt, tmp_path, method, setting, says):
    refused("forget", ckpt, "--classes", "3", "--method", method, "--set", setting, "-o", tmp_path / "f.pt",
            inputs=[ckpt], says=[says])


def test_a_recipe_value_is_checked_and_named_with_its_recipe(refused, tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text("[train]\nepochs = 0\n")
    refused("train", "--recipe", recipe, "-o", tmp_path / "m.pt", inputs=[recipe],
            says=["train.epochs must be at least 1", f"recipe {recipe}"])


def test_a_checkpoints_recorded_config_is_checked_too():
    with pytest.raises(DauError, match="train.epochs must be at least 1.*recorded config"):
        resolve(base={"train": {"epochs": -2}})


def test_the_engine_cannot_build_an_out_of_range_section():
    with pytest.raises(DauError, match="dau.epochs must be at least 1"):
        SECTIONS["dau"](epochs=0)
    assert math.isclose(SECTIONS["dau"](holdout=0.5).holdout, 0.5)


def test_a_huge_integer_in_a_recipe_is_one_line(refused, tmp_path):
    recipe = tmp_path / "big.toml"
    recipe.write_text("[train]\nepochs = " + "9" * 400 + "\n")
    refused("train", "--recipe", recipe, "-o", tmp_path / "m.pt", inputs=[recipe],
            says=["train.epochs must be at least 1", "400-digit number", "recipe"])


@pytest.mark.parametrize("args, says", [
    (("--references", str(10**23)), "less than or equal to 256"),
    (("--workers", "999"), "CPU cores; use at most"),
])
def test_references_and_workers_are_capped_before_any_work(refused, ckpt, tmp_path, args, says):
    refused("audit", ckpt, "--classes", "3", *args, inputs=[ckpt], says=[says])
    refused("compare", ckpt, "--classes", "3", *args, "-o", tmp_path / "c", inputs=[ckpt], says=[says])


def test_json_output_is_strict_without_nan_or_infinity():
    import json

    from dau_cli.files import to_json

    text = to_json({"z": float("nan"), "auc": [0.5, float("inf"), float("-inf")]})
    assert json.loads(text) == {"z": None, "auc": [0.5, None, None]}
    assert "NaN" not in text and "Infinity" not in text


def test_workers_are_capped_by_free_memory_too(monkeypatch):
    """Within the cores, a machine with 2.5 GiB free takes 2 workers (1 GiB each), not 3; the cap is stated."""
    import typer

    from dau_cli.cli import common

    monkeypatch.setattr(common.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(common, "available_memory", lambda: int(2.5 * (1 << 30)))
    assert common._workers_fit(2) == 2
    with pytest.raises(typer.BadParameter, match=r"3 workers need about 3 GiB .* 2.5 GiB free; use at most 2"):
        common._workers_fit(3)
    monkeypatch.setattr(common, "available_memory", lambda: None)  # not Linux: the cores alone cap it
    assert common._workers_fit(16) == 16
