"""Configuration: every default in one place, recipes (TOML presets) and `--set KEY=VALUE`.

Precedence, lowest first: the defaults below, the recipe, then command-line flags and `--set`.
Each section is a frozen dataclass; a field's `help` metadata is its documentation
(`dau recipes show NAME` prints it). Torch-free, so the CLI can resolve a config instantly.
"""

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from collections.abc import Collection
from typing import Any

from dau_cli.errors import DauError
from dau_cli.settings import FRACTION_OPEN, LR, UNBOUNDED_SEED, check, did_you_mean, opt


@dataclass(frozen=True)
class _Checked:
    """Base of every section: constructing one checks each field against its declared range."""

    def __post_init__(self) -> None:
        section = next((s for s, c in SECTIONS.items() if c is type(self)), type(self).__name__)
        for f in fields(self):
            check(f"{section}.{f.name}", f, getattr(self, f.name))


# Images in each named data set (training and test together); an image folder's is known once read.
DATASET_SIZES = {"digits": 1797, "fashion-mnist": 70_000, "mnist": 70_000, "cifar10": 60_000, "cifar100": 60_000,
                 "svhn": 99_289}


@dataclass(frozen=True)
class DataConfig(_Checked):
    dataset: str = opt("digits", "dataset: digits (embedded), fashion-mnist, mnist, cifar10, cifar100, svhn, or "
                       "folder:PATH (one subfolder of images per class)",
                       choices=tuple(DATASET_SIZES),
                       pattern=(r"folder:.+", "folder:PATH"))
    data_root: str = opt("", "where the dataset lives; empty = <DAU_HOME>/data (fashion-mnist: also Debian's "
                         "/usr/share/datasets/fashion-mnist)")
    download: bool = opt(False, "download the dataset if it is missing (through torchvision; not for digits or a folder)")
    image_size: int = opt(32, "image folders: every image is centre-cropped and resized to this many pixels a side",
                          min=8, max=512)
    color: str = opt("rgb", "image folders: rgb (3 channels) or grayscale (1)", choices=("rgb", "grayscale"))
    split_seed: int = opt(0, "seed of the stratified validation (and, for digits, test) split", min=0, max=UNBOUNDED_SEED)


@dataclass(frozen=True)
class ModelConfig(_Checked):
    arch: str = opt("cnn", "architecture: cnn, lenet, resnet18, vgg16_bn", choices=("cnn", "lenet", "resnet18", "vgg16_bn"))
    width: int = opt(32, "channels of the first block (cnn only)", min=1, max=1024)


@dataclass(frozen=True)
class TrainConfig(_Checked):
    epochs: int = opt(30, "passes over the training set", min=1, max=100_000)
    batch_size: int = opt(128, "images per step", min=1, max=1 << 20)
    lr: float = opt(0.05, "peak SGD learning rate", **LR)
    momentum: float = opt(0.9, "SGD momentum (Nesterov)", min=0.0, below=1.0)
    weight_decay: float = opt(5e-4, "L2 weight decay", min=0.0, max=1.0)
    schedule: str = opt("onecycle", "learning-rate schedule: onecycle or cosine", choices=("onecycle", "cosine"))
    label_smoothing: float = opt(0.0, "cross-entropy label smoothing", min=0.0, below=1.0)
    crop_pad: int = opt(1, "padded random crop: pixels of zero padding (0 = no crop)", min=0, max=64)
    flip: bool = opt(False, "random horizontal flips (off for digits: a flipped 2 is not a 2)")
    seed: int = opt(0, "seed of initialisation, batch order and augmentation", min=0, max=UNBOUNDED_SEED)
    device: str = opt("auto", "auto (CUDA, else MPS, else the CPU), cpu, cuda, cuda:N or mps",
                      choices=("auto", "cpu", "cuda", "mps"), pattern=(r"cuda:\d+", "cuda:N"))
    compile: bool = opt(False, "torch.compile the model for the training loop (off until measured on a GPU: docs/results.md)")


# ----------------------------------------------------------------------------- unlearning methods


@dataclass(frozen=True)
class DauConfig(_Checked):
    """Discriminative Adversarial Unlearning as dau implements it (`--method dau`; docs/method.md)."""

    epochs: int = opt(20, "class forgetting: at most this many passes over the forget set; the game stops once "
                      "the class is forgotten", min=1, max=10_000)
    sample_epochs: int = opt(5, "random or index forgetting: passes over the forget set", min=1, max=10_000)
    forget_batch: int = opt(128, "B_f: forget samples (and as many paired reference samples) per step, and the "
                            "attacker's batch", min=1, max=1 << 20)
    retain_ratio: float = opt(1.0, "B_r = retain_ratio × B_f retain samples per step (rounded, at least 1)",
                              above=0.0, max=100.0)
    lr: float = opt(0.01, "defender SGD learning rate", **LR)
    momentum: float = opt(0.9, "defender SGD momentum (Nesterov)", min=0.0, below=1.0)
    weight_decay: float = opt(5e-4, "defender weight decay", min=0.0, max=1.0)
    alpha: float = opt(0.3, "weight of the adversarial term", min=0.0, max=100.0)
    beta: float = opt(0.1, "weight of the Barlow Twins-style alignment term", min=0.0, max=100.0)
    lambda_off: float = opt(5e-3, "off-diagonal weight inside the alignment term", min=0.0, max=100.0)
    proj_dim: int = opt(256, "width of the alignment projector", min=1, max=65_536)
    attacker_lr: float = opt(1e-3, "attacker Adam learning rate", **LR)
    attacker_steps: int = opt(1, "k_A: attacker steps per defender step", min=1, max=1000)
    attacker_warmup: int = opt(100, "attacker steps against the frozen original model before the game (0 = none)",
                               min=0, max=1_000_000)
    adv_loss: str = opt("nonsaturating", "the defender's adversarial term: nonsaturating (BCE(A(phi_f), 0)) or "
                        "minimax (minus the attacker's own loss)", choices=("nonsaturating", "minimax"))
    sensitivity: str = opt("logits", "what the attacker sees besides the output statistics: logits (‖p − e_y‖, "
                           "closed form) or input (also ‖∇ₓ loss‖, a double backward)", choices=("logits", "input"))
    holdout: float = opt(0.3, "share of D_f and R kept from the attacker to measure its AUC", **FRACTION_OPEN)
    calibration: int = opt(512, "retain samples that re-estimate batch-norm statistics after each epoch (0 = none)",
                           min=0, max=1_000_000)
    forgotten_acc: float = opt(1.0, "class forgetting: D_f's accuracy (%, 0 to 100) at or below which the class "
                               "counts as forgotten and the game stops", min=0.0, max=100.0)
    repair_steps: int = opt(40, "class forgetting: steps on B_r retain samples after the game, each guarded "
                            "against relearning (0 = no repair)", min=0, max=10_000_000)
    repair_lr: float = opt(0.02, "class forgetting: learning rate of the repair steps (0 = dau.lr)", min=0.0, max=10.0)
    guard_radius: float = opt(3.0, "class forgetting: norm of the relearning step each repair step guards against, "
                              "taken in all weights down D_f's loss (0 = no guard)", min=0.0, max=1000.0)
    guard_weight: float = opt(0.5, "class forgetting: weight of the guard's hinge (how far the relearned model's "
                              "forgotten-class logit rises above the others on forget images), on the body's "
                              "weights", min=0.0, max=100.0)
    guard_batch: int = opt(32, "class forgetting: forget images per guard step", min=1, max=1 << 20)


@dataclass(frozen=True)
class DauAuthorsConfig(_Checked):
    """DAU as the authors' code runs it (`--method dau-authors`; Sharma et al. 2024, GitHub
    rohan1561/Gunlearn; docs/method.md compares it with `dau`). Not a subclass of DauConfig: each
    section holds only the keys its method reads."""

    steps: int = opt(477, "defender steps, one retain batch each", min=1, max=10_000_000)
    forget_batch: int = opt(256, "forget and validation samples per step, and the pre-training batch (capped at "
                            "the sets' sizes)", min=1, max=1 << 20)
    retain_ratio: float = opt(1.0, "retain samples per step = retain_ratio × forget_batch (rounded, at least 1)",
                              above=0.0, max=100.0)
    lr: float = opt(0.01, "defender SGD learning rate in random and index forgetting", **LR)
    class_lr: float = opt(0.02, "class forgetting: defender SGD learning rate until stop_iter", **LR)
    stop_iter: int = opt(30, "class forgetting: adversarial steps; the steps after them fine-tune on D_r alone",
                         min=0, max=10_000_000)
    stop_lr: float = opt(0.01, "class forgetting: learning rate after stop_iter", **LR)
    momentum: float = opt(0.9, "defender SGD momentum (not Nesterov)", min=0.0, below=1.0)
    weight_decay: float = opt(5e-4, "defender weight decay", min=0.0, max=1.0)
    alpha: float = opt(0.9, "weight of the adversarial term (the attacker's cross-entropy with reversed labels)",
                       min=0.0, max=100.0)
    beta: float = opt(0.001, "weight of the Barlow Twins term on raw penultimate features", min=0.0, max=100.0)
    lambda_off: float = opt(5e-3, "off-diagonal weight inside the Barlow Twins term", min=0.0, max=100.0)
    attacker_lr: float = opt(1e-3, "attacker Adam learning rate", **LR)
    attacker_warmup: int = opt(1000, "attacker pre-training steps against the frozen original (cached per "
                               "checkpoint and settings; 0 = none)", min=0, max=1_000_000)
    sigma: float = opt(1e-3, "std of the input noise of the finite-difference sensitivity", above=0.0, max=1.0)
    noise_copies: int = opt(10, "m: noisy copies per image in the finite-difference sensitivity", min=1, max=1000)
    augment_view: str = opt("class", "augment the forget and validation images the attacker sees: class (in class "
                            "forgetting only), always or never", choices=("class", "always", "never"))


@dataclass(frozen=True)
class RetrainConfig(_Checked):
    """Retraining from scratch on D_r with the original training config (the ideal)."""

    epochs: int = opt(0, "0 = the original recipe's epochs", min=0, max=100_000)


@dataclass(frozen=True)
class FtConfig(_Checked):
    """Fine-tuning on D_r."""

    epochs: int = opt(5, "passes over D_r", min=1, max=10_000)
    lr: float = opt(0.02, "SGD learning rate (cosine-decayed)", **LR)


@dataclass(frozen=True)
class GaConfig(_Checked):
    """Gradient ascent on D_f."""

    epochs: int = opt(5, "passes over D_f", min=1, max=10_000)
    lr: float = opt(1e-3, "SGD learning rate", **LR)
    batch_size: int = opt(64, "forget samples per step", min=1, max=1 << 20)


@dataclass(frozen=True)
class RlConfig(_Checked):
    """Random labels on D_f, trained together with D_r."""

    epochs: int = opt(2, "passes over D_f ∪ D_r (D_f with random wrong labels)", min=1, max=10_000)
    lr: float = opt(0.01, "SGD learning rate", **LR)
    batch_size: int = opt(64, "samples per step", min=1, max=1 << 20)


@dataclass(frozen=True)
class L1Config(_Checked):
    """l1-sparse unlearning: fine-tuning on D_r with an l1 penalty decaying linearly to zero."""

    epochs: int = opt(5, "passes over D_r", min=1, max=10_000)
    lr: float = opt(0.02, "SGD learning rate (cosine-decayed)", **LR)
    gamma: float = opt(5e-4, "initial l1 weight", min=0.0, max=100.0)


@dataclass(frozen=True)
class SalunConfig(_Checked):
    """SalUn: random labels restricted to the most salient weights (|grad of the GA loss on D_f|)."""

    epochs: int = opt(2, "passes over D_f ∪ D_r (D_f with random wrong labels)", min=1, max=10_000)
    lr: float = opt(0.01, "SGD learning rate", **LR)
    batch_size: int = opt(64, "samples per step", min=1, max=1 << 20)
    fraction: float = opt(0.5, "share of weights that may change (the most salient)", above=0.0, max=1.0)


@dataclass(frozen=True)
class ScrubConfig(_Checked):
    """SCRUB: max-steps on D_f away from the original model, min-steps on D_r close to it."""

    epochs: int = opt(5, "passes over D_r", min=1, max=10_000)
    max_epochs: int = opt(2, "the first epochs that also take max-steps on D_f", min=0, max=10_000)
    lr: float = opt(0.005, "SGD learning rate", **LR)
    batch_size: int = opt(64, "samples per step", min=1, max=1 << 20)
    temperature: float = opt(4.0, "distillation temperature", above=0.0, max=1000.0)
    kl_weight: float = opt(1.0, "weight of the KL to the original model on D_r", min=0.0, max=1000.0)


# Keys that are gone, and what a recipe or --set naming one is told instead.
REMOVED = {
    "dau.variant": "the authors' algorithm is its own method: --method dau-authors, settings in [dau-authors]",
    "dau-authors.variant": "--method dau-authors is the authors' algorithm",
    "dau.attacker_view": "removed: the attacker learns from fresh eval-mode queries of the model",
    "dau-authors.attacker_bn": "removed: the defender's batch norm uses batch statistics while the attacker looks, "
                               "as in the authors' code",
}

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


def recipe_path(name: str, files: bool = True) -> Path:
    """A preset's file by name, or (with `files`) a .toml file; else one line naming the closest
    preset, or the missing file and a close name beside it (files.check_input)."""
    recipes = list_recipes()
    if name in recipes:
        return recipes[name]
    if files and Path(name).suffix == ".toml":
        from dau_cli.files import check_input

        return check_input(Path(name), f"give a recipe file, or a preset: {', '.join(recipes)}")
    raise DauError(f"unknown recipe '{name}'{did_you_mean(name, recipes)}; choose one of: {', '.join(recipes)}"
                   + (" (or give a .toml path)" if files else ""))


def read_recipe(name: str) -> dict[str, dict[str, Any]]:
    path = recipe_path(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise DauError(f"recipe {path} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise DauError(f"recipe {path} is not a text file (TOML is UTF-8 text); give a .toml recipe") from None
    except OSError as e:
        raise DauError(f"cannot read recipe {path}: {e.strerror}") from None
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise DauError(f"recipe {path}: '{section}' must be a [section]; valid sections: {', '.join(SECTIONS)}")
        for key in values:
            _field(f"{section}.{key}", where=f"recipe {path}")
    return raw


def _field(dotted: str, where: str) -> dataclasses.Field:
    section, _, key = dotted.partition(".")
    if section not in SECTIONS:
        raise DauError(f"{where}: unknown section '{section}' in '{dotted}'{did_you_mean(section, SECTIONS)}; "
                       f"valid sections: {', '.join(SECTIONS)}")
    by_name = {f.name: f for f in fields(SECTIONS[section])}
    if key not in by_name:
        shown = [f"{section}.{k}" for k in by_name]
        valid = ", ".join(shown[:12]) + (f" and {len(shown) - 12} more (`dau recipes show` lists them)"
                                         if len(shown) > 12 else "")
        sibling = {"dau": "dau-authors", "dau-authors": "dau"}.get(section)
        if dotted in REMOVED:
            hint = f" ({REMOVED[dotted]})"
        elif sibling and key in {f.name for f in fields(SECTIONS[sibling])}:
            hint = f" ({sibling}.{key} is a setting of --method {sibling}; [{section}] has no {key})"
        else:
            hint = did_you_mean(dotted, shown)
        raise DauError(f"{where}: unknown key '{dotted}'{hint}; valid keys: {valid}")
    return by_name[key]


def _coerce(dotted: str, f: dataclasses.Field, value: Any, where: str = "") -> Any:
    kind = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool, "str": str}[f.type]
    source = f" ({where})" if where else ""
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return text in ("true", "1", "yes")
            return kind(value)
        except ValueError:
            raise DauError(f"'{dotted}' needs a {kind.__name__}, got '{value}'{source}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DauError(f"'{dotted}' needs a {kind.__name__}, got {value!r}{source}")
    return value


def parse_sets(items: list[str], where: str = "--set") -> dict[str, str]:
    """`--set KEY=VALUE` items -> {KEY: VALUE}, keys checked; errors name `where` they came from."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise DauError(f"{where} needs KEY=VALUE, got '{item}' (e.g. --set train.lr=0.05)")
        _field(key.strip(), where=where)
        out[key.strip()] = value
    return out


def resolve(recipe: str | None = None, overrides: dict[str, Any] | None = None,
            sets: list[str] | None = None, base: dict[str, dict[str, Any]] | None = None,
            uses: Collection[str] | None = None, command: str = "this command",
            sets_from: str = "--set") -> dict[str, Any]:
    """Defaults <- base (e.g. a checkpoint's recorded config) <- recipe <- flags <- --set.

    Returns {section: frozen dataclass}. `overrides` maps dotted keys to values; None values
    (flags the user did not give) are ignored. Every value is type- and range-checked (`check`)
    with where it came from. `uses` names the sections the command reads: a flag or `--set` for
    any other section is refused, since it would be ignored (a recipe may hold more sections).
    `sets_from` is where `sets` were given, as errors name it (compare's `--methods 'dau[...]'`).
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    if base:
        layers.append(("the checkpoint's recorded config",
                       {f"{s}.{k}": v for s, kv in base.items() if s in SECTIONS and isinstance(kv, dict)
                        for k, v in kv.items()}))
    if recipe:
        layers.append((f"recipe {recipe}", {f"{s}.{k}": v for s, kv in read_recipe(recipe).items() for k, v in kv.items()}))
    if overrides:
        layers.append(("a flag", {k: v for k, v in overrides.items() if v is not None}))
    if sets:
        layers.append((sets_from, parse_sets(sets, sets_from)))
    values: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for where, layer in layers:
        for dotted, value in layer.items():
            try:
                f = _field(dotted, where)
            except DauError:
                if where.startswith("the checkpoint"):  # an older checkpoint's key that no longer exists
                    continue
                raise
            section, _, key = dotted.partition(".")
            if uses is not None and section not in uses and where in ("a flag", sets_from):
                raise DauError(f"{where} {dotted}: {command} does not use [{section}] settings, so it would be "
                               f"ignored; it uses {', '.join(f'[{u}]' for u in uses) or 'none'}")
            value = _coerce(dotted, f, value, where)
            check(dotted, f, value, where)
            values[section][key] = value
    return {s: SECTIONS[s](**values[s]) for s in SECTIONS}


def as_dict(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s: dataclasses.asdict(c) for s, c in config.items()}


def describe_section(section: str) -> list[tuple[str, Any, str]]:
    return [(f"{section}.{f.name}", f.default, f.metadata.get("help", "")) for f in fields(SECTIONS[section])]
