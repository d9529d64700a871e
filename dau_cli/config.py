"""Configuration: every default in one place, recipes (TOML presets) and `--set KEY=VALUE`.

Precedence, lowest first: the defaults below, the recipe, then command-line flags and `--set`.
Each section is a frozen dataclass; a field's `help` metadata is its documentation
(`dau recipes show NAME` prints it). Torch-free, so the CLI can resolve a config instantly.
"""

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dau_cli.errors import DauError


def opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class DataConfig:
    dataset: str = opt("digits", "dataset name: digits (embedded), cifar10, cifar100")
    data_root: str = opt("", "where the dataset lives; empty = <DAU_HOME>/data")
    download: bool = opt(False, "download the dataset if it is missing (cifar only)")
    split_seed: int = opt(0, "seed of the stratified validation (and, for digits, test) split")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = opt("cnn", "architecture: cnn, resnet18, vgg16_bn")
    width: int = opt(32, "channels of the first block (cnn only)")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = opt(30, "passes over the training set")
    batch_size: int = opt(128, "images per step")
    lr: float = opt(0.05, "peak SGD learning rate")
    momentum: float = opt(0.9, "SGD momentum (Nesterov)")
    weight_decay: float = opt(5e-4, "L2 weight decay")
    schedule: str = opt("onecycle", "learning-rate schedule: onecycle or cosine")
    label_smoothing: float = opt(0.0, "cross-entropy label smoothing")
    crop_pad: int = opt(1, "padded random crop: pixels of zero padding (0 = no crop)")
    flip: bool = opt(False, "random horizontal flips (off for digits: a flipped 2 is not a 2)")
    seed: int = opt(0, "seed of initialisation, batch order and augmentation")
    device: str = opt("auto", "auto, cpu or cuda")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
}


# ----------------------------------------------------------------------------- recipes


def recipes_dir() -> Path:
    """Installed wheels carry the recipes inside the package; a source checkout has them at the top."""
    here = Path(__file__).resolve().parent
    packaged = here / "recipes"
    return packaged if packaged.is_dir() else here.parent / "recipes"


def list_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(recipes_dir().glob("*.toml"))}


def read_recipe(name: str) -> dict[str, dict[str, Any]]:
    recipes = list_recipes()
    path = recipes.get(name)
    if path is None:
        p = Path(name)
        if p.suffix == ".toml" and p.is_file():
            path = p
        else:
            raise DauError(f"unknown recipe '{name}'; choose one of: {', '.join(recipes)} (or give a .toml path)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise DauError(f"recipe {path} is not valid TOML: {e}") from e
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise DauError(f"recipe {path}: '{section}' must be a [section]; valid sections: {', '.join(SECTIONS)}")
        for key in values:
            _field(f"{section}.{key}", where=f"recipe {path}")
    return raw


def _field(dotted: str, where: str) -> dataclasses.Field:
    section, _, key = dotted.partition(".")
    if section not in SECTIONS:
        raise DauError(f"{where}: unknown section '{section}' in '{dotted}'; valid sections: {', '.join(SECTIONS)}")
    by_name = {f.name: f for f in fields(SECTIONS[section])}
    if key not in by_name:
        valid = ", ".join(f"{section}.{k}" for k in by_name)
        raise DauError(f"{where}: unknown key '{dotted}'; valid keys: {valid}")
    return by_name[key]


def _coerce(dotted: str, f: dataclasses.Field, value: Any) -> Any:
    kind = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool, "str": str}[f.type]
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return text in ("true", "1", "yes")
            return kind(value)
        except ValueError:
            raise DauError(f"'{dotted}' needs a {kind.__name__}, got '{value}'") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DauError(f"'{dotted}' needs a {kind.__name__}, got {value!r}")
    return value


def parse_sets(items: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` items -> {KEY: VALUE}, keys checked."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise DauError(f"--set needs KEY=VALUE, got '{item}' (e.g. --set train.lr=0.05)")
        _field(key.strip(), where="--set")
        out[key.strip()] = value
    return out


def resolve(recipe: str | None = None, overrides: dict[str, Any] | None = None,
            sets: list[str] | None = None, base: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Defaults <- base (e.g. a checkpoint's recorded config) <- recipe <- flags <- --set.

    Returns {section: frozen dataclass}. `overrides` maps dotted keys to values; None values
    (flags the user did not give) are ignored.
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    if base:
        layers.append(("checkpoint", {f"{s}.{k}": v for s, kv in base.items() if s in SECTIONS for k, v in kv.items()}))
    if recipe:
        layers.append((f"recipe {recipe}", {f"{s}.{k}": v for s, kv in read_recipe(recipe).items() for k, v in kv.items()}))
    if overrides:
        layers.append(("flags", {k: v for k, v in overrides.items() if v is not None}))
    if sets:
        layers.append(("--set", parse_sets(sets)))
    values: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for where, layer in layers:
        for dotted, value in layer.items():
            try:
                f = _field(dotted, where)
            except DauError:
                if where == "checkpoint":  # an older checkpoint's key that no longer exists
                    continue
                raise
            section, _, key = dotted.partition(".")
            values[section][key] = _coerce(dotted, f, value)
    return {s: SECTIONS[s](**values[s]) for s in SECTIONS}


def as_dict(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s: dataclasses.asdict(c) for s, c in config.items()}


def describe_section(section: str) -> list[tuple[str, Any, str]]:
    return [(f"{section}.{f.name}", f.default, f.metadata.get("help", "")) for f in fields(SECTIONS[section])]
