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


# ----------------------------------------------------------------------------- unlearning methods


@dataclass(frozen=True)
class DauConfig:
    """Discriminative Adversarial Unlearning (docs/dau-method.md fixes each choice)."""

    epochs: int = opt(20, "passes over the forget set (in class forgetting, those after the class is forgotten train on D_r alone)")
    forget_batch: int = opt(128, "B_f: forget samples (and paired reference samples) per step")
    retain_ratio: float = opt(2.0, "B_r = retain_ratio * B_f retain samples per step")
    lr: float = opt(0.01, "defender SGD learning rate")
    momentum: float = opt(0.9, "defender SGD momentum")
    weight_decay: float = opt(5e-4, "defender weight decay")
    alpha: float = opt(0.3, "weight of the adversarial term (0.3 kept RA and TA on digits where 1.0 did not; docs/results.md)")
    beta: float = opt(0.1, "weight of the Barlow Twins-style alignment term")
    lambda_off: float = opt(5e-3, "off-diagonal weight inside the alignment term")
    proj_dim: int = opt(256, "width of the alignment projector")
    attacker_lr: float = opt(1e-3, "attacker Adam learning rate")
    attacker_steps: int = opt(1, "k_A: attacker steps per defender step")
    attacker_warmup: int = opt(100, "attacker steps against the frozen original model before unlearning")
    adv_loss: str = opt("nonsaturating", "nonsaturating (defender minimises BCE(A(phi_f), 0)) or minimax")
    sensitivity: str = opt("logits", "logits (closed-form ‖p − e_y‖) or input (adds ‖∇ₓ loss‖, double backward)")
    until_chance: bool = opt(False, "stop once the attacker's held-out AUC stays within 0.5 ± chance_tol twice")
    chance_tol: float = opt(0.03, "band around 0.5 that counts as chance (widened to the null's 95 % interval on small sets)")
    holdout: float = opt(0.3, "fraction of D_f and R kept from the attacker to measure its AUC")
    calibration: int = opt(2048, "retain samples that re-estimate batch-norm statistics after each epoch")
    forgotten_acc: float = opt(1.0, "class forgetting: D_f's accuracy (%) at or below which the class counts as forgotten")
    # the authors' algorithm (dau.variant=authors; docs/method.md has the table of its choices)
    variant: str = opt("dau", "dau (attacker on the audit's statistics, repair phase) or authors (the authors' code: "
                       "token attacker on logits, labels and finite-difference sensitivity)")
    steps: int = opt(477, "authors: defender steps, one retain batch each (CIFAR-10's 3 epochs over D_r at batch 256)")
    class_lr: float = opt(0.02, "authors: defender learning rate in class forgetting until stop_iter (dau.lr otherwise)")
    stop_iter: int = opt(30, "authors, class forgetting: adversarial steps; after them plain fine-tuning on D_r")
    stop_lr: float = opt(0.01, "authors, class forgetting: learning rate after stop_iter")
    sigma: float = opt(1e-3, "authors: std of the input noise of the finite-difference sensitivity")
    noise_copies: int = opt(10, "authors: m, noisy copies per image in the sensitivity")
    attacker_bn: str = opt("train", "authors: the defender's batch norm while the attacker looks (train = batch "
                           "statistics, as the authors' code; eval = running statistics, no drift)")
    augment_view: str = opt("class", "authors: augment the forget and validation images the attacker sees: class "
                            "(only in class forgetting, as the authors' code), always or never")


@dataclass(frozen=True)
class DauAuthorsConfig(DauConfig):
    """DAU exactly as the authors' code runs it (Sharma et al. 2024; GitHub rohan1561/Gunlearn)."""

    variant: str = opt("authors", "the authors' algorithm (see the dau section for the alternative)")
    alpha: float = opt(0.9, "weight of the adversarial term (reversed-label attacker cross-entropy)")
    beta: float = opt(0.001, "weight of the Barlow Twins term (no projector)")
    forget_batch: int = opt(256, "forget and validation samples per step (the authors' loaders)")
    retain_ratio: float = opt(1.0, "retain batch = retain_ratio * forget_batch")
    attacker_warmup: int = opt(1000, "attacker pre-training steps against the frozen original (cached)")


@dataclass(frozen=True)
class RetrainConfig:
    """Retraining from scratch on D_r with the original training config (the ideal)."""

    epochs: int = opt(0, "0 = the original recipe's epochs")


@dataclass(frozen=True)
class FtConfig:
    """Fine-tuning on D_r."""

    epochs: int = opt(5, "passes over D_r")
    lr: float = opt(0.02, "SGD learning rate (cosine-decayed)")


@dataclass(frozen=True)
class GaConfig:
    """Gradient ascent on D_f."""

    epochs: int = opt(5, "passes over D_f")
    lr: float = opt(1e-3, "SGD learning rate")
    batch_size: int = opt(64, "forget samples per step")


@dataclass(frozen=True)
class RlConfig:
    """Random labels on D_f, trained together with D_r."""

    epochs: int = opt(2, "passes over D_f ∪ D_r (D_f with random wrong labels)")
    lr: float = opt(0.01, "SGD learning rate")
    batch_size: int = opt(64, "samples per step")


@dataclass(frozen=True)
class L1Config:
    """l1-sparse unlearning: fine-tuning on D_r with an l1 penalty decaying linearly to zero."""

    epochs: int = opt(5, "passes over D_r")
    lr: float = opt(0.02, "SGD learning rate (cosine-decayed)")
    gamma: float = opt(5e-4, "initial l1 weight")


@dataclass(frozen=True)
class SalunConfig:
    """SalUn: random labels restricted to the most salient weights (|grad of the GA loss on D_f|)."""

    epochs: int = opt(2, "passes over D_f ∪ D_r (D_f with random wrong labels)")
    lr: float = opt(0.01, "SGD learning rate")
    batch_size: int = opt(64, "samples per step")
    fraction: float = opt(0.5, "share of weights that may change (the most salient)")


@dataclass(frozen=True)
class ScrubConfig:
    """SCRUB: max-steps on D_f away from the original model, min-steps on D_r close to it."""

    epochs: int = opt(5, "passes over D_r")
    max_epochs: int = opt(2, "the first epochs that also take max-steps on D_f")
    lr: float = opt(0.005, "SGD learning rate")
    batch_size: int = opt(64, "samples per step")
    temperature: float = opt(4.0, "distillation temperature")
    kl_weight: float = opt(1.0, "weight of the KL to the original model on D_r")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "dau": DauConfig,
    "dau-authors": DauAuthorsConfig,
    "retrain": RetrainConfig,
    "ft": FtConfig,
    "ga": GaConfig,
    "rl": RlConfig,
    "l1": L1Config,
    "salun": SalunConfig,
    "scrub": ScrubConfig,
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
