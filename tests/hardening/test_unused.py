"""Group 2: a setting the command does not use is refused, not silently ignored."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("method, setting, section", [
    ("retrain", "train.lr=1e6", "[train]"),
    ("ft", "dau.alpha=0.5", "[dau]"),
    ("dau", "ga.lr=0.1", "[ga]"),
    ("ga", "data.dataset=cifar10", "[data]"),
])
def test_forget_refuses_settings_of_other_sections(refused, ckpt, tmp_path, method, setting, section):
    refused("forget", ckpt, "--classes", "3", "--method", method, "--set", setting, "-o", tmp_path / "f.pt",
            inputs=[ckpt], says=[f"--set {setting.split('=')[0]}", f"does not use {section} settings",
                                 f"--method {method}"])


@pytest.mark.parametrize("method, setting, says", [
    ("dau", "dau.steps=3", "dau-authors.steps is a setting of --method dau-authors"),
    ("dau", "dau.sigma=0.01", "dau-authors.sigma is a setting of --method dau-authors"),
    ("dau-authors", "dau-authors.repair_steps=3", "dau.repair_steps is a setting of --method dau"),
    ("dau-authors", "dau-authors.guard_radius=0", "dau.guard_radius is a setting of --method dau"),
    ("dau", "dau.variant=authors", "--method dau-authors"),
    ("dau", "dau.attacker_view=batch", "removed"),
    ("dau-authors", "dau-authors.attacker_bn=eval", "removed"),
])
def test_a_dau_key_the_method_does_not_read_is_unknown(refused, ckpt, tmp_path, method, setting, says):
    """`dau` and `dau-authors` have a section each, holding only the keys the method reads."""
    refused("forget", ckpt, "--classes", "3", "--method", method, "--set", setting, "-o", tmp_path / "f.pt",
            inputs=[ckpt], says=[f"unknown key '{setting.split('=')[0]}'", says])


def test_the_other_dau_section_is_not_used(refused, ckpt, tmp_path):
    refused("forget", ckpt, "--classes", "3", "--method", "dau-authors", "--set", "dau.alpha=0.5", "-o",
            tmp_path / "f.pt", inputs=[ckpt], says=["does not use [dau] settings", "it uses [dau-authors]"])


def test_train_refuses_method_settings(refused, tmp_path):
    refused("train", "--set", "dau.epochs=3", "-o", tmp_path / "m.pt", says=["does not use [dau] settings"])


def test_compare_refuses_settings_of_methods_it_does_not_run(refused, ckpt, tmp_path):
    refused("compare", ckpt, "--classes", "3", "--methods", "ft", "--set", "ga.lr=0.1", "-o", tmp_path / "cmp",
            inputs=[ckpt], says=["does not use [ga] settings"])


@pytest.mark.parametrize("extra", [("--set", "train.lr=0.1"), ("--retrain-epochs", "2")])
def test_prune_without_retraining_refuses_retraining_settings(refused, ckpt, tmp_path, extra):
    refused("prune", ckpt, "-s", "0.5", "--no-retrain", *extra, "-o", tmp_path / "p.pt", inputs=[ckpt],
            says=["which --no-retrain skips"])
