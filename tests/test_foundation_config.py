"""Configuration: every recipe loads, unknown keys and bad values are errors that say what is valid,
and the layers override each other in order (defaults < recipe < flags < --set)."""

from __future__ import annotations

import pytest

from dau_cli.config import SECTIONS, list_recipes, read_recipe, resolve
from dau_cli.errors import DauError


@pytest.mark.parametrize("name", sorted(list_recipes()))
def test_every_recipe_loads(name):
    from dau_cli.engine.datasets import DATASETS, parse_dataset
    from dau_cli.engine.models import MODELS

    raw = read_recipe(name)
    assert set(raw) <= set(SECTIONS)
    config = resolve(name)
    dataset, _ = parse_dataset(config["data"].dataset, config["data"].data_root or None)
    assert dataset in DATASETS and config["model"].arch in MODELS
    for section, values in raw.items():
        for key, value in values.items():
            assert getattr(config[section], key) == value, f"{section}.{key}"


def test_recipes_exist():
    assert {"digits-cnn", "cifar10-resnet18"} <= set(list_recipes())


def write(tmp_path, text: str):
    path = tmp_path / "r.toml"
    path.write_text(text)
    return str(path)


def test_unknown_key_in_a_recipe_is_named(tmp_path):
    with pytest.raises(DauError, match=r"unknown key 'train\.nope'.*train\.lr"):
        resolve(write(tmp_path, "[train]\nnope = 1\n"))


def test_unknown_section_in_a_recipe_is_named(tmp_path):
    with pytest.raises(DauError, match="unknown section 'trian'"):
        resolve(write(tmp_path, "[trian]\nlr = 0.1\n"))


def test_invalid_toml_is_a_user_error(tmp_path):
    with pytest.raises(DauError, match="not valid TOML"):
        resolve(write(tmp_path, "[train\n"))


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(DauError, match="digits-cnn"):
        resolve("no-such-recipe")


def test_set_overrides_the_recipe():
    assert resolve("cifar10-resnet18")["train"].lr == 0.1
    assert resolve("cifar10-resnet18", sets=["train.lr=0.05"])["train"].lr == 0.05


def test_layers_in_order():
    config = resolve("digits-cnn", overrides={"train.epochs": 5, "train.seed": None}, sets=["train.epochs=7"])
    assert config["train"].epochs == 7  # --set beats the flag, which beats the recipe's 30
    assert config["train"].seed == 0  # a flag the user did not give (None) changes nothing
    assert resolve("digits-cnn", overrides={"train.epochs": 5})["train"].epochs == 5


def test_unknown_set_key_names_the_valid_keys():
    with pytest.raises(DauError) as e:
        resolve(sets=["train.nope=1"])
    assert "train.nope" in str(e.value) and "train.lr" in str(e.value) and "train.epochs" in str(e.value)


@pytest.mark.parametrize("item, needs", [("train.epochs=ten", "int"), ("train.lr=fast", "float"),
                                         ("train.flip=maybe", "bool"), ("train.lr", "KEY=VALUE")])
def test_bad_set_values_are_errors(item, needs):
    with pytest.raises(DauError, match=needs):
        resolve(sets=[item])


def test_set_values_are_coerced():
    config = resolve(sets=["train.epochs=3", "train.lr=1e-2", "train.flip=yes", "data.dataset=cifar10"])
    assert (config["train"].epochs, config["train"].lr, config["train"].flip) == (3, 0.01, True)
    assert config["data"].dataset == "cifar10"


@pytest.mark.parametrize("line, needs", [('epochs = "ten"', "int"), ("lr = true", "float"), ("flip = 1", "bool"),
                                         ("epochs = 2.5", "int")])
def test_bad_recipe_value_types_are_errors(tmp_path, line, needs):
    with pytest.raises(DauError, match=needs):
        resolve(write(tmp_path, f"[train]\n{line}\n"))


def test_configs_are_frozen():
    config = resolve()
    with pytest.raises(Exception):
        config["train"].lr = 1.0  # type: ignore[misc]
