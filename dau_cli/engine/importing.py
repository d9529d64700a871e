"""`dau import`: a model trained elsewhere as a dau checkpoint.

The weights (a PyTorch state dict, read with `weights_only=True`, or a .safetensors file) are fitted
to a dau architecture or a torchvision classification model; the data view says which images it
was trained on (all official training images unless a file lists them). Its accuracies are
measured, so a wrong data set, class order or preprocessing shows at once, and a model at chance
level is refused. The lineage starts with an `import` entry: the file's SHA-256, what dau was told,
and what it could not check.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import torch

from dau_cli.engine.checkpoint import lineage_entry, new_checkpoint
from dau_cli.engine.data import Data, import_splits, load_data
from dau_cli.engine.forget_sets import read_index_file
from dau_cli.engine.models import build_model
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

NO_RECIPE = ("how it was trained (no --recipe): dau cannot train reference models or retrain it, so `dau audit` "
             "gives no verdict and `dau forget --method retrain` is refused")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Named tensors from a .safetensors file or a torch.save'd state dict (also one under a
    "state_dict" key, and DataParallel's `module.` prefixes removed). Never runs code from the file."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise DauError(f"{path} is not a readable .safetensors file ({str(e).splitlines()[0][:120]})") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a foreign pickle, a truncated zip: all the same to a user
            first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            raise DauError(f"{path} is not a state dict torch's safe loader can read ({first}); save the weights "
                           f"with torch.save(model.state_dict(), PATH) or as .safetensors") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise DauError(f"{path} does not hold a state dict (named tensors); save the weights with "
                       f"torch.save(model.state_dict(), PATH)")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _torchvision_keys(state: dict[str, torch.Tensor], name: str, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A torchvision model's own parameter names as dau's wrapper holds them: its last linear layer
    under `head.`, the rest under `body.` (`body.1.` behind the grayscale repeat)."""
    import torchvision

    net = torchvision.models.get_model(name, weights=None, num_classes=1)
    last = [n for n, m in net.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    from dau_cli.engine.models import _Repeat

    body = "body.1." if isinstance(model.body, torch.nn.Sequential) and isinstance(model.body[0], _Repeat) else "body."
    def renamed(k: str) -> str:
        return k if k in ("mean", "std") else "head." + k[len(last) + 1:] if k.startswith(last + ".") else body + k

    return {renamed(k): v for k, v in state.items()}


def _classes_in(state: dict[str, torch.Tensor]) -> int | None:
    head = state.get("head.weight")
    return int(head.shape[0]) if head is not None and head.dim() == 2 else None


def fit_weights(state: dict[str, torch.Tensor], model: torch.nn.Module, what: str, dataset: str, num_classes: int,
                mean: list[float] | None, std: list[float] | None) -> None:
    """Load `state` into `model` or say in one line why it does not fit."""
    expected = model.state_dict()
    given = _classes_in(state)
    if given is not None and given != num_classes:
        raise DauError(f"the weights are for {given} classes, {dataset} has {num_classes}; import them with the "
                       f"data set they were trained on")
    channels = expected["mean"].shape[1]
    state = dict(state)
    for name, values, default in (("mean", mean, 0.0), ("std", std, 1.0)):
        if values is not None or name not in state:
            values = values if values is not None else [default]
            if len(values) not in (1, channels):
                raise DauError(f"--{name} takes 1 or {channels} numbers for {channels}-channel images, got {len(values)}")
            state[name] = torch.tensor(values, dtype=torch.float32).expand(channels).reshape(1, channels, 1, 1).clone()
    if bool((state["std"] <= 0).any()):
        raise DauError("--std must be above 0")
    extra, missing = sorted(state.keys() - expected.keys()), sorted(expected.keys() - state.keys())
    if extra or missing:
        raise DauError(f"the weights do not fit {what}: " + "; ".join(
            p for p in (f"{len(missing)} missing (e.g. {', '.join(missing[:2])})" if missing else "",
                        f"{len(extra)} unexpected (e.g. {', '.join(extra[:2])})" if extra else "") if p)
                       + "; choose the architecture they were saved from with --arch or --torchvision")
    for k, t in expected.items():
        if state[k].shape != t.shape:
            raise DauError(f"the weights do not fit {what}: {k} is {list(state[k].shape)}, the model needs "
                           f"{list(t.shape)}; check --arch (and --set model.width) or the data set's image size")
        if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all()):
            raise DauError(f"the weights hold NaN or infinite values in {k}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def chance_ceiling(num_classes: int, n: int) -> float:
    """Percent accuracy that guessing reaches: 100/K plus three binomial standard errors."""
    p = 1 / num_classes
    return 100 * (p + 3 * math.sqrt(p * (1 - p) / max(n, 1)))


def import_checkpoint(weights: Path, *, arch: str, arch_args: dict, dataset: str, data_root: str | None,
                      download: bool, options: dict, train_indices: Path | None, recipe: dict | None,
                      mean: list[float] | None, std: list[float] | None, device: torch.device,
                      sink: EventSink) -> tuple[dict, dict]:
    """Read, fit and measure. Returns (checkpoint, summary)."""
    from dau_cli.engine.train import accuracy, prepare

    start = time.perf_counter()
    state = read_weights(weights)
    digest = sha256_of(weights)
    data = load_data(dataset, data_root, download, options=options)
    train = read_index_file(train_indices) if train_indices is not None else None
    splits = import_splits(data.labels.numpy(), data.is_test.numpy(), train,
                           source=f"--train-indices {train_indices}" if train_indices else "")
    data = Data(data.name, data.root, data.images, data.labels, {k: torch.from_numpy(v) for k, v in splits.items()},
                data.class_names, data.fingerprint, data.options, data.is_test)
    model = build_model(arch, data.num_classes, data.input_shape, **arch_args)
    what = f"a {arch_args.get('name', arch)} for {'x'.join(map(str, data.input_shape))} images"
    if arch == "torchvision":
        state = _torchvision_keys(state, arch_args["name"], model)
    fit_weights(state, model, what, data.name, data.num_classes, mean, std)
    model = prepare(model, device)
    data = data.to(device)
    sink.emit("log", level="info", message=f"{data.name} from {data.root}: {len(splits['train'])} train, "
              f"{len(splits['val'])} val, {len(splits['test'])} test images")
    metrics = {f"{s}_acc": accuracy(model, data, data.splits[s]) for s in ("train", "val", "test")}
    ceiling = chance_ceiling(data.num_classes, len(splits["test"]))
    if metrics["test_acc"] <= ceiling:
        raise DauError(f"the imported model is at chance level: {metrics['test_acc']:.1f} % on {len(splits['test'])} "
                       f"test images of {data.num_classes} classes (guessing reaches up to {ceiling:.1f} %); check the "
                       f"data set, its class order and the preprocessing (--mean, --std, image size)")
    told = {"arch": arch, "arch_args": dict(arch_args), "dataset": data.name, "options": dict(data.options),
            "mean": model.mean.flatten().tolist(), "std": model.std.flatten().tolist(),
            "train_indices": str(train_indices) if train_indices else "every official training image"}
    unchecked = ["that it was trained on exactly these training images and no others",
                 "which images it saw for validation or early stopping"]
    unchecked.append("that it was trained with the recipe it was given" if recipe else NO_RECIPE)
    entry = lineage_entry("import", told, time.perf_counter() - start, 0, str(device), file=str(weights.resolve()),
                          sha256=digest, unchecked=unchecked, **({"recipe": recipe} if recipe else {}))
    ckpt = new_checkpoint(model, arch, arch_args, data.describe(), recipe or {}, metrics, [entry])
    summary = {**metrics, "sha256": digest, "chance_ceiling": ceiling, "recipe": bool(recipe),
               "splits": {k: len(v) for k, v in splits.items()}, "device": str(device)}
    sink.emit("result", metrics={k: v for k, v in summary.items() if isinstance(v, float)})
    return ckpt, summary
