"""Pruning: sparse checkpoints whose pruned weights stay exactly zero through every later step.

`dau prune` (dau_cli/cli/prune.py) turns a checkpoint into a sparse one with a method from
`PRUNERS` (details and measurements in docs/pruning.md):

- `omp`: one-shot global magnitude pruning of every conv and linear weight, then retraining.
- `imp`: iterative magnitude pruning: rounds of "prune `rate` of the remaining weights, retrain".
- `synflow`: Iterative Synaptic Flow Pruning (Tanaka et al., NeurIPS 2020), data-free and at
  initialisation; the masked initialisation is then trained with the recorded recipe.

A mask is one boolean tensor per prunable parameter (True = kept), stored as packed bits in the
checkpoint; `Stepper` re-applies it after every optimiser step of every loop in dau, so pruned
weights stay exactly 0 through retraining and unlearning. Pruning a pruned checkpoint composes
masks: what was pruned stays pruned. Retraining reuses the training config recorded in the
lineage, on D_train minus every forget set in the lineage (retraining must never bring forgotten
data back).

Measured on digits + cnn, CPU (docs/pruning.md): OMP to 90 % with the default retraining goes
from 98.42 ± 0.43 % to 98.24 ± 0.85 % test accuracy over 3 seeds (worst seed −0.56 points), at
the cost of one training run; IMP (3 rounds) and SynFlow at 90 %: 98.61 % and 97.49 % (seed 0).

    dau prune digits-cnn.pt --method omp --sparsity 0.9
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from dau_cli.config import TrainConfig, as_dict, resolve
from dau_cli.engine.checkpoint import CheckpointView, derive, lineage_entry, prunable, restore, sparsity
from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import retain_indices
from dau_cli.engine.models import build_model
from dau_cli.engine.train import Masks, accuracy, fit, float64_device, pick_device, prepare, synchronize
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

IMP_RATE = 0.2  # fraction of the remaining weights each IMP round removes (Frankle & Carbin, 2019)
SYNFLOW_ROUNDS = 100  # scoring iterations; the SynFlow paper's default, enough to avoid layer collapse


@dataclass(frozen=True)
class PruneConfig:
    """What `dau prune` was asked to do; recorded in the lineage entry under config["prune"]."""

    method: str  # a name in PRUNERS
    sparsity: float  # target fraction of prunable weights that are zero, in [0, 1)
    rounds: int | None = None  # imp: prune-retrain cycles; synflow: scoring iterations (default 100)
    rate: float | None = None  # imp: fraction of the remaining weights pruned per round (default 0.2)
    rewind_epoch: int | None = None  # retrain from the original run's weights after this epoch (0 = init)
    retrain: bool = True  # False: keep the pruned weights as they are (omp, synflow)


# ----------------------------------------------------------------------------- masks


def masks_for(ckpt: dict, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The checkpoint's masks, with an all-True mask for every prunable weight it does not mask."""
    stored = CheckpointView(ckpt).masks or {}
    return {name: stored[name].cpu() if name in stored else torch.ones(p.shape, dtype=torch.bool)
            for name, p in model.named_parameters() if prunable(name, p)}


def masked_nonzero(state_dict: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, int]:
    """Per layer, how many pruned weights are not exactly 0 (all zeros = the masks held)."""
    return {name: int((state_dict[name].cpu()[~m.cpu()] != 0).sum()) for name, m in masks.items()}


def global_mask(scores: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], keep: int) -> dict[str, torch.Tensor]:
    """Keep exactly the `keep` highest-scoring weights across all layers (one global threshold);
    a weight that `masks` already prunes stays pruned. Ties are broken by position, so the count
    is exact and the achieved sparsity is the asked one up to rounding to whole weights."""
    names = list(scores)
    on = {n: float64_device(scores[n].device) for n in names}  # ranked in float64, which MPS lacks
    flat = torch.cat([scores[n].to(on[n]).double().flatten().masked_fill(~masks[n].to(on[n]).flatten(), -math.inf)
                      for n in names])
    keep = max(0, min(keep, int(torch.isfinite(flat).sum())))
    kept = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    kept[torch.topk(flat, keep, sorted=False).indices] = True
    out, i = {}, 0
    for n in names:
        k = scores[n].numel()
        out[n] = kept[i:i + k].reshape(scores[n].shape).cpu()
        i += k
    return out


def magnitude_scores(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().abs() for n, p in model.named_parameters() if prunable(n, p)}


def synflow_masks(model: torch.nn.Module, masks: dict[str, torch.Tensor], keep: int, rounds: int,
                  input_shape: tuple[int, ...], sink: EventSink) -> dict[str, torch.Tensor]:
    """Iterative Synaptic Flow Pruning (Tanaka et al. 2020, Algorithm 1) on a copy of `model`.

    The copy is linearised (|·| of every weight, bias and BatchNorm statistic), put in eval mode
    (BatchNorm as the fixed affine map of its running statistics, not batch statistics of one
    input) and double precision (the flow is a product over all layers), as the authors' code
    does. Each round scores R = 1ᵀ f(1) by |θ ⊙ ∂R/∂θ| and keeps the top weights globally, on
    an exponential schedule: after round k the density is d0 · (d / d0)^(k / rounds).
    """
    net = copy.deepcopy(model).to(float64_device(next(model.parameters()).device)).double().eval()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    params = {n: p for n, p in net.named_parameters() if n in masks}
    device = next(net.parameters()).device
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    total = sum(m.numel() for m in masks.values())
    kept0 = sum(int(m.sum()) for m in masks.values())
    sink.emit("phase", phase="synflow", total=rounds, epochs=0)
    for k in range(1, rounds + 1):
        with torch.no_grad():
            for n, p in params.items():
                p.mul_(masks[n].to(device, p.dtype))
        net.zero_grad(set_to_none=True)
        net(ones).sum().backward()
        scores = {n: (p.grad * p).detach().abs() for n, p in params.items()}
        target = keep if k == rounds else round(kept0 * (keep / kept0) ** (k / rounds)) if kept0 else 0
        masks = global_mask(scores, masks, target)
        sink.emit("step", phase="synflow", step=k, total=rounds, epoch=0, sparsity=100.0 * (1 - target / total))
    return masks


# ----------------------------------------------------------------------------- the job a pruner works in


class _RewindPointReached(Exception):
    """Ends the reproduction of the original run once it has finished the rewind epoch."""


def recorded_config(ckpt: dict) -> dict[str, dict]:
    """The recipe the weights were trained with (CheckpointView.recipe); {} for a model imported
    without one."""
    return CheckpointView(ckpt).recipe or {}


def forgotten(ckpt: dict) -> torch.Tensor:
    """Every dataset position that an operation in the lineage unlearned."""
    sets = [torch.as_tensor(e["forget_indices"]).long().flatten() for e in ckpt["lineage"] if "forget_indices" in e]
    return torch.cat(sets).unique() if sets else torch.zeros(0, dtype=torch.long)


@dataclass
class PruneJob:
    """Everything a pruner needs: the data, the retraining recipe, and cost accounting."""

    ckpt: dict
    data: Data
    device: torch.device
    pc: PruneConfig
    retrain_cfg: TrainConfig  # the recorded recipe, with --retrain-epochs / --set applied
    original_cfg: TrainConfig  # the recorded recipe as it ran (the rewind point reproduces it)
    sink: EventSink
    train_idx: torch.Tensor  # D_train minus anything forgotten in the lineage
    image_passes: int = 0
    _rewind_state: dict | None = field(default=None, repr=False)

    @property
    def total(self) -> int:
        return sum(t.numel() for n, t in self.ckpt["state_dict"].items() if prunable(n, t))

    @property
    def target_zeros(self) -> int:
        return round(self.pc.sparsity * self.total)

    def initial_model(self) -> torch.nn.Module:
        """The original run's initialisation: same seed, same constructor call as `dau train`."""
        torch.manual_seed(self.original_cfg.seed)
        c = self.ckpt
        return prepare(build_model(c["arch"], c["num_classes"], tuple(c["data"]["input_shape"]), **c["arch_args"]),
                       self.device)

    def rewind_state(self) -> dict:
        """Weights of the original run after `rewind_epoch` epochs, reproduced from the same seed
        and the full original schedule (its learning rate at epoch E, not a shortened run);
        computed once and reused by every IMP round."""
        if self._rewind_state is None:
            model = self.initial_model()
            epoch = self.pc.rewind_epoch
            if epoch:
                self.sink.emit("log", level="info", message=f"reproducing the original run up to epoch {epoch} "
                               f"of {self.original_cfg.epochs} (the rewind point)")
                def stop_at_rewind_point(done: int) -> None:
                    if done == epoch:
                        raise _RewindPointReached

                try:
                    fit(model, self.data, self.data.splits["train"], self.original_cfg, self.sink, phase="rewind",
                        on_epoch=stop_at_rewind_point)
                except _RewindPointReached:
                    pass
                self.image_passes += len(self.data.splits["train"]) * epoch
            self._rewind_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self._rewind_state

    def retrain(self, model: torch.nn.Module, masks: dict[str, torch.Tensor], phase: str) -> None:
        """Rewind if asked, then train the masked model with the recipe (or only apply the masks)."""
        if self.pc.rewind_epoch is not None:
            model.load_state_dict(self.rewind_state())
        if not self.pc.retrain:
            Masks(model, masks).apply()
            return
        result = fit(model, self.data, self.train_idx, self.retrain_cfg, self.sink, phase=phase,
                     val_idx=self.data.splits["val"], masks=masks)
        self.image_passes += result["image_passes"]


Pruner = Callable[[PruneJob, torch.nn.Module, dict], tuple[torch.nn.Module, dict]]


# ----------------------------------------------------------------------------- the methods


def omp(job: PruneJob, model: torch.nn.Module, masks: dict) -> tuple[torch.nn.Module, dict]:
    """One-shot global magnitude pruning of the trained weights, then retraining."""
    masks = global_mask(magnitude_scores(model), masks, job.total - job.target_zeros)
    job.retrain(model, masks, "retrain")
    return model, masks


def imp_schedule(total: int, kept0: int, keep: int, rounds: int | None, rate: float | None) -> list[int]:
    """Weights kept after each IMP round: a geometric decay from `kept0` to exactly `keep`.

    With a rate, each round keeps (1 - rate) of what remains and the last round lands on the
    target; with a number of rounds, the rate is whatever reaches the target in that many."""
    if kept0 <= keep:
        return [keep]
    if rounds is None:
        rate = IMP_RATE if rate is None else rate
        rounds = max(1, math.ceil(math.log(keep / kept0) / math.log(1 - rate) - 1e-9)) if keep else 1
        steps = [max(keep, round(kept0 * (1 - rate) ** k)) for k in range(1, rounds + 1)]
    else:
        steps = [round(kept0 * (keep / kept0) ** (k / rounds)) for k in range(1, rounds + 1)]
    steps[-1] = keep
    return steps


def imp(job: PruneJob, model: torch.nn.Module, masks: dict) -> tuple[torch.nn.Module, dict]:
    """Iterative magnitude pruning: each round prunes the smallest surviving weights globally,
    then retrains (from the rewind point if `--rewind-epoch`, else from the current weights)."""
    kept0 = sum(int(m.sum()) for m in masks.values())
    schedule = imp_schedule(job.total, kept0, job.total - job.target_zeros, job.pc.rounds, job.pc.rate)
    n = len(schedule)
    for k, keep in enumerate(schedule, 1):
        masks = global_mask(magnitude_scores(model), masks, keep)
        job.retrain(model, masks, f"round {k}/{n}")
        job.sink.emit("log", level="info", message=f"imp round {k}/{n}: sparsity {100 * (1 - keep / job.total):.2f} %, "
                      f"val accuracy {accuracy(model, job.data, job.data.splits['val']):.2f} %")
    return model, masks


def synflow(job: PruneJob, model: torch.nn.Module, masks: dict) -> tuple[torch.nn.Module, dict]:
    """SynFlow on the original initialisation (data-free), then train the masked init."""
    init = job.initial_model()
    rounds = job.pc.rounds or SYNFLOW_ROUNDS
    masks = synflow_masks(init, masks, job.total - job.target_zeros, rounds, tuple(job.data.input_shape), job.sink)
    job.image_passes += rounds  # one all-ones input, forward and backward, per round
    if not job.pc.retrain:
        job.sink.emit("log", level="warning", message="--no-retrain with synflow leaves an untrained (masked) "
                      "initialisation: expect chance accuracy")
    job.retrain(init, masks, "train")
    return init, masks


PRUNERS: dict[str, Pruner] = {"omp": omp, "imp": imp, "synflow": synflow}


# ----------------------------------------------------------------------------- `dau prune`


def retrain_config(ckpt: dict, retrain_epochs: int | None = None, device: str | None = None,
                   sets: list[str] | None = None, retrain: bool = True) -> dict[str, Any]:
    """The recorded config, with the retraining flags on top ({section: dataclass})."""
    if not retrain and (retrain_epochs is not None or sets):
        raise DauError("--retrain-epochs and --set change the retraining, which --no-retrain skips; drop them")
    return resolve(base=recorded_config(ckpt), overrides={"train.epochs": retrain_epochs, "train.device": device},
                   sets=sets, uses=("train",), command="dau prune")


def check_prune(ckpt: dict, pc: PruneConfig) -> None:
    """Every mistake a user can make with `dau prune`, as one DauError, before any work starts."""
    if pc.method not in PRUNERS:
        raise DauError(f"unknown pruning method '{pc.method}'; choose one of: {', '.join(PRUNERS)}")
    if not 0.0 <= pc.sparsity < 1.0:
        hint = f" (for {pc.sparsity:g} % write {pc.sparsity / 100:g})" if 1 < pc.sparsity < 100 else ""
        raise DauError(f"--sparsity must be in [0, 1), the fraction of weights set to zero, e.g. 0.9; "
                       f"got {pc.sparsity:g}{hint}")
    if pc.rate is not None and pc.method != "imp":
        raise DauError(f"--rate applies to --method imp only, not {pc.method}")
    if pc.rounds is not None and pc.method == "omp":
        raise DauError("--rounds applies to --method imp (prune-retrain cycles) and synflow (scoring iterations); "
                       "omp prunes in one shot")
    if pc.rounds is not None and pc.rate is not None:
        raise DauError("give --rounds or --rate, not both: with --sparsity, one decides the other")
    if pc.rounds is not None and pc.rounds < 1:
        raise DauError(f"--rounds must be at least 1, got {pc.rounds}")
    if pc.rate is not None and not 0.0 < pc.rate < 1.0:
        raise DauError(f"--rate must be in (0, 1), the fraction of remaining weights pruned per round; got {pc.rate:g}")
    if pc.method == "imp" and not pc.retrain:
        raise DauError("imp retrains between rounds; without retraining it is omp: use --method omp --no-retrain")
    if pc.rewind_epoch is not None:
        if pc.method == "synflow":
            raise DauError("synflow prunes at initialisation and trains from there; "
                           "--rewind-epoch applies to omp and imp")
        if not pc.retrain:
            raise DauError("--rewind-epoch needs retraining (rewound weights are not trained); drop --no-retrain")
        if CheckpointView(ckpt).first_op != "train":
            raise DauError("--rewind-epoch needs a checkpoint made by `dau train` (its lineage starts elsewhere)")
        epochs = resolve(base=recorded_config(ckpt))["train"].epochs
        if not 0 <= pc.rewind_epoch <= epochs:
            raise DauError(f"--rewind-epoch must be between 0 (the initialisation) and {epochs} (the recorded epochs); "
                           f"got {pc.rewind_epoch}")
        if pc.rewind_epoch > 0 and len(forgotten(ckpt)):
            raise DauError("this checkpoint has unlearned data; rewinding to the original run would bring it back: "
                           "use --rewind-epoch 0 or no rewinding")
    sd = ckpt["state_dict"]
    total = sum(t.numel() for n, t in sd.items() if prunable(n, t))
    zeros = sum(int((t == 0).sum()) for n, t in sd.items() if prunable(n, t))
    if zeros > round(pc.sparsity * total):
        raise DauError(f"the checkpoint is already {100 * zeros / total:.2f} % sparse, more than the asked "
                       f"{100 * pc.sparsity:g} %; ask for a higher --sparsity")


def prune_checkpoint(ckpt: dict, pc: PruneConfig, config: dict[str, Any], sink: EventSink,
                     data_root: str | None = None) -> tuple[dict, dict]:
    """Prune (and retrain) a checkpoint. `config` is `retrain_config(...)`. Returns (checkpoint, summary)."""
    check_prune(ckpt, pc)
    device = pick_device(config["train"].device)
    model, data = restore(ckpt, device, data_root)
    model = prepare(model, device)
    test_idx = data.splits["test"]
    sparsity_before, by_layer_before = sparsity(ckpt["state_dict"])
    test_acc_before = accuracy(model, data, test_idx)
    lost = forgotten(ckpt)
    train_idx = retain_indices(data.splits["train"], lost) if len(lost) else data.splits["train"]
    if len(lost):
        sink.emit("log", level="info", message=f"retraining on D_train minus the {len(lost)} unlearned samples")
    original = resolve(base=recorded_config(ckpt), overrides={"train.device": config["train"].device})["train"]
    job = PruneJob(ckpt, data, device, pc, config["train"], original, sink, train_idx)

    start = time.perf_counter()
    model, masks = PRUNERS[pc.method](job, model, masks_for(ckpt, model))
    synchronize(device)
    wall = time.perf_counter() - start

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    achieved, by_layer = sparsity(state)
    metrics = {f"{s}_acc": accuracy(model, data, data.splits[s]) for s in ("train", "val", "test")}
    entry = lineage_entry("prune", {**as_dict(config), "prune": asdict(pc)}, wall, job.image_passes, str(device),
                          method=pc.method, target_sparsity=pc.sparsity, sparsity=achieved)
    out = derive(ckpt, model, entry, metrics, masks=masks)
    summary = {
        "method": pc.method, "target_sparsity": pc.sparsity, "sparsity": achieved, "sparsity_before": sparsity_before,
        "sparsity_by_layer": by_layer, "sparsity_by_layer_before": by_layer_before,
        "test_acc_before": test_acc_before, "test_acc_after": metrics["test_acc"], **metrics,
        "wall_time_s": wall, "image_passes": job.image_passes, "device": str(device),
    }
    sink.emit("result", metrics={k: v for k, v in summary.items() if isinstance(v, (int, float))})
    return out, summary
