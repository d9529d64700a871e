"""The reference bank: models retrained without D_f (OUT) and trained with it (IN), measured once.

What retraining does is the audit's yardstick (docs/audit.md, "The verdict"), so it is measured on
real models instead of assumed. Every reference is trained with the audited model's recorded data
view and recipe (the first `train` lineage entry), from its own seed:

- **OUT** references: on D_r = D_train \\ D_f, one folder per forget set;
- **IN** references: on all of D_train; they do not depend on the forget set, so every forget set
  of the same data view and recipe shares them.

A pruned checkpoint (one with `masks`) is judged against references retrained the way the `retrain`
method retrains it: from scratch under its masks, held through training (`fit(..., masks=...)`), and
its relearning tests hold the masks too. Its bank's digest includes a digest of the masks, so it
gets its own bank and checkpoints with the same masks share one; the masks are written once to
`masks.pt` in the bank folder and the jobs name that file. A dense checkpoint's key has no masks
entry, so its bank is the one it always had.

Each reference is one job of `engine/jobs.py` (`train_reference`) whose output file holds the
per-sample statistics of the model on every image of the dataset (logit-scaled confidence,
confidence, loss, correctness, indexed by dataset position), so a re-audit does no inference on
references; the first `TAMPER_REFERENCES` OUT references also keep their weights, which the
relearning and probe tests need. The tamper tests of a reference are jobs too (`tamper_reference`),
cached beside it. Every file names the bank it belongs to (`bank`: the folder's digest, the forget
set's digest for OUT references and tamper results) and carries a digest of its contents
(`digest`); both are checked on every read, with the statistics' shapes and finiteness. A bank only grows: `ensure` adds the references that are missing, an existing
output is never recomputed, and an interrupted build keeps every reference that finished.

    DAU_HOME/bank/<data view + recipe digest>/
        key.json                      what the digest stands for (dataset, splits, recipe, masks digest)
        masks.pt                      a pruned checkpoint's packed masks (checkpoint.pack_masks)
        in/ref-<seed>.pt              IN references
        out-<forget digest>/ref-<seed>.pt, forget.json
        out-<forget digest>/tamper-<settings digest>/ref-<seed>.pt
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dau_cli.engine.forget_sets import ForgetSet
from dau_cli.engine.references import digest, indices_digest, masks_digest, reference_problem, tamper_problem
from dau_cli.runs import EventSink, dau_home

# Reference seeds: a series far from the seeds people pass by hand (0, 1, 2 ...); any seed the
# audited checkpoint's lineage records is skipped as well, so a reference is never the audited model.
OUT_SEED_BASE = 10_000
IN_SEED_BASE = 20_000
TAMPER_REFERENCES = 8  # OUT references that keep their weights and get relearning and probe tests
NOT_RECIPE = ("seed", "device", "compile")  # TrainConfig fields that do not change what a reference learns


class BankWarning(UserWarning):
    """A bank file that was set aside (the audit goes on without it)."""


# ----------------------------------------------------------------------------- the bank


def recipe_of(ckpt: dict) -> dict:
    """The original's training recipe (first `train` lineage entry) as a plain dict, without the
    seed (each reference has its own) and the settings that say how it runs, not what it learns."""
    import dataclasses

    from dau_cli.engine.checkpoint import needs_recipe
    from dau_cli.engine.forget import original_train_config

    needs_recipe(ckpt, "--references")
    cfg = dataclasses.asdict(original_train_config(ckpt))
    for what_runs_it in NOT_RECIPE:
        cfg.pop(what_runs_it, None)
    return cfg


def lineage_seeds(ckpt: dict) -> set[int]:
    """Every seed the checkpoint's lineage records (training, unlearning, retraining)."""
    seeds = set()
    for e in ckpt.get("lineage", []):
        if e.get("op") == "train":
            seed = (e.get("config") or {}).get("train", {}).get("seed")
            seeds.add(int(seed) if seed is not None else 0)
        elif e.get("seed") is not None:
            seeds.add(int(e["seed"]))
    return seeds


@dataclass
class Bank:
    """The references of one data view, recipe and forget set (see the module docstring)."""

    root: Path  # DAU_HOME/bank/<view digest>
    forget_digest: str
    spec: dict  # dataset, root, splits (lists), arch, arch_args, recipe: shared by every job
    forget: list[int]
    exclude_seeds: frozenset[int]
    masks: dict[str, dict] | None = None  # packed masks of a pruned checkpoint; written to masks.pt
    _checked: dict = field(default_factory=dict, repr=False)  # path -> verified statistics
    sink: EventSink | None = field(default=None, repr=False)  # where a set-aside file is reported
    _key_checked: bool = field(default=False, repr=False)

    @property
    def in_dir(self) -> Path:
        return self.root / "in"

    @property
    def out_dir(self) -> Path:
        return self.root / f"out-{self.forget_digest}"

    def seeds(self, kind: str, k: int) -> list[int]:
        """The first k seeds of the kind's series, skipping the audited model's own seeds."""
        base = OUT_SEED_BASE if kind == "out" else IN_SEED_BASE
        out, s = [], base
        while len(out) < k:
            if s not in self.exclude_seeds:
                out.append(s)
            s += 1
        return out

    def label(self, kind: str) -> dict:
        """The `bank` field every file of this kind carries: the bank folder's digest, and the forget
        set's digest for OUT references and tamper results."""
        return {"view": self.root.name, "forget": self.forget_digest if kind != "in" else None, "kind": kind}

    def path(self, kind: str, seed: int) -> Path:
        return (self.out_dir if kind == "out" else self.in_dir) / f"ref-{seed}.pt"

    def available(self, kind: str) -> list[int]:
        """Seeds of the finished references of a kind, in series order (audited model's seeds skipped)."""
        self.check_key()
        folder = self.out_dir if kind == "out" else self.in_dir
        if not folder.is_dir():
            return []
        found = sorted(int(p.stem[4:]) for p in folder.glob("ref-*.pt") if p.stem[4:].isdigit() and p.is_file())
        return [s for s in found if s not in self.exclude_seeds]

    def reference_jobs(self, k: int, device: str = "cpu") -> list:
        """Jobs for the first k OUT and k IN references (finished ones are skipped by the driver)."""
        from dau_cli.engine.jobs import Job

        jobs = []
        for kind in ("out", "in"):
            for i, seed in enumerate(self.seeds(kind, k)):
                spec = {**self.spec, "seed": seed, "exclude": self.forget if kind == "out" else [],
                        "keep_weights": kind == "out" and i < TAMPER_REFERENCES,
                        "device": device, "bank": self.label(kind)}
                jobs.append(Job(fn="dau_cli.engine.references:train_reference", spec=spec, output=self.path(kind, seed),
                                label=f"{kind.upper()} reference {i + 1}/{k} (seed {seed})"))
        return jobs

    def ensure(self, k: int, workers: int = 1, sink: EventSink | None = None, device: str = "cpu",
               ray: str | None = None) -> list:
        """Top the bank up to k OUT and k IN references; returns the job outcomes (done, skipped, failed).
        Missing references train in `workers` local processes, or as Ray tasks with `ray` (jobs.make_executor)."""
        from dau_cli.engine.jobs import make_executor, run_jobs

        if k <= 0:
            return []
        self.check_key()
        self._write_keys()
        for kind in ("out", "in"):  # a bad file is set aside here, so it counts as missing below
            for seed in self.seeds(kind, k):
                if self.path(kind, seed).exists():
                    self.verified(kind, seed)
        jobs = self.reference_jobs(k, device)
        missing = [j for j in jobs if not Path(j.output).exists()]
        if sink is not None and missing:
            sink.emit("log", level="info", message=f"reference bank: training {len(missing)} of {len(jobs)} "
                      f"references ({f'on Ray {ray}' if ray else f'{workers} worker' + ('s' if workers != 1 else '')}) "
                      f"in {self.root}")
        executor = make_executor(workers=workers, ray=ray) if missing else None  # Ray starts only for work
        return run_jobs(jobs, executor=executor, sink=sink, phase="references", load=False)

    def root_key(self) -> dict:
        """What key.json records: the spec, with digests for the splits and masks."""
        key = ({k: v for k, v in self.spec.items() if k not in ("splits", "masks")} |
               {"splits": {s: indices_digest(v) for s, v in self.spec["splits"].items()}})
        if self.masks:
            key["masks"] = masks_digest(self.masks)
        return key

    def check_key(self) -> None:
        """A bank folder whose key.json names another data view, architecture or recipe (copied or
        left there by hand) is moved aside whole, with a warning, never read."""
        if self._key_checked:
            return
        self._key_checked = True
        name = self.root / "key.json"
        if not name.is_file():
            return
        identity = ("dataset", "arch", "arch_args", "recipe", "splits", "masks") + (
            ("fingerprint", "options") if self.spec["dataset"] == "folder" else ())
        try:
            recorded = json.loads(name.read_text(encoding="utf-8"))
            ours = json.loads(json.dumps(self.root_key(), default=str))
            same = isinstance(recorded, dict) and all(recorded.get(k) == ours.get(k) for k in identity)
        except (OSError, ValueError):
            same = False
        if not same:
            self.set_aside(self.root, "its key.json names another data view, architecture or recipe")

    def _write_keys(self) -> None:
        from dau_cli.files import write

        root_key = self.root_key()
        if self.masks:
            self.root.mkdir(parents=True, exist_ok=True)
            if not Path(self.spec["masks"]).exists():
                write(self.spec["masks"], lambda f: torch.save(self.masks, f), force=True)  # same content whoever writes it
        for folder, key in ((self.root, root_key),
                            (self.out_dir, {"forget": self.forget})):
            folder.mkdir(parents=True, exist_ok=True)
            name = folder / ("key.json" if folder == self.root else "forget.json")
            if not name.exists():
                from dau_cli.files import write_json

                write_json(name, key, force=True)  # the same content whoever writes it

    def statistics(self, kind: str, idx: torch.Tensor, statistic: str = "logit_scaled_confidence",
                   limit: int | None = None) -> tuple[list[int], torch.Tensor]:
        """(seeds, (K, len(idx)) matrix) of a statistic on the dataset positions `idx`, read from the
        stored references (at most `limit` of them, in series order). No inference."""
        seeds, rows = [], []
        for seed in self.available(kind):
            if limit is not None and len(seeds) >= limit:
                break
            result = self.verified(kind, seed)
            if result is not None:
                seeds.append(seed)
                rows.append(result["stats"][statistic][idx])
        return seeds, (torch.stack(rows) if rows else torch.zeros(0, len(idx)))

    def verified(self, kind: str, seed: int) -> dict | None:
        """A reference's stored result, checked before any test reads it: readable with the safe
        loader, made for this seed and training set, every statistic a finite vector over the whole
        data set. A bad file is moved aside (`<name>.bad`, named in a warning) and None returned, so
        `--references K` trains it again. Checked once per file and process (statistics kept)."""
        path = self.path(kind, seed)
        if path in self._checked:
            return self._checked[path]
        from dau_cli.engine.jobs import load_result

        trained_on = len(self.spec["splits"]["train"]) - (len(self.forget) if kind == "out" else 0)
        size = 1 + max(max(v) for v in self.spec["splits"].values() if len(v))
        try:
            result = load_result(path)
            problem = reference_problem(result, seed, trained_on, size, self.label(kind))
        except Exception as e:  # truncated, random bytes, a hostile pickle the safe loader refused
            result, problem = None, f"it cannot be read ({type(e).__name__})"
        if problem is not None:
            self.set_aside(path, problem)
            return None
        self._checked[path] = {"stats": result["stats"]}
        return self._checked[path]

    def set_aside(self, path: Path, problem: str) -> None:
        """Move a bad bank file or folder out of the way (never delete it) and say so; one that
        cannot be moved stops the audit in one line rather than be read."""
        import secrets
        import warnings

        from dau_cli.errors import DauError

        what = "reference folder" if path.is_dir() else "reference file"
        aside = path.with_name(f"{path.name}.bad-{secrets.token_hex(3)}")
        try:
            os.replace(path, aside)
        except OSError as e:
            raise DauError(f"{what} {path} is unusable ({problem}) and cannot be moved aside ({e.strerror}); "
                           f"move or delete it, then audit again") from None
        message = f"{what} {path} is unusable: {problem}; moved to {aside.name}; --references K trains it again"
        if self.sink is not None:
            self.sink.emit("log", level="warning", message=message)
        else:
            warnings.warn(message, BankWarning, stacklevel=2)

    def tamper_jobs(self, settings: dict, device: str = "cpu", limit: int | None = None) -> list:
        """Tamper-test jobs of the OUT references that kept their weights (of the first `limit`)."""
        from dau_cli.engine.jobs import Job, load_result

        folder = self.out_dir / f"tamper-{digest(settings)}"
        jobs = []
        for seed in self.available("out")[:limit]:
            if len(jobs) >= TAMPER_REFERENCES:
                break
            ref = self.path("out", seed)
            out = folder / f"ref-{seed}.pt"
            if self.verified("out", seed) is None or (not out.exists() and "state_dict" not in load_result(ref)):
                continue
            jobs.append(Job(fn="dau_cli.engine.references:tamper_reference",
                            spec={**self.spec, "reference": str(ref), "forget": self.forget, "settings": settings,
                                  "device": device, "bank": self.label("tamper")},
                            output=out, label=f"tamper tests of OUT reference seed {seed}"))
        return jobs

    def tamper_results(self, settings: dict, workers: int = 1, sink: EventSink | None = None,
                       device: str = "cpu", ray: str | None = None, limit: int | None = None) -> list[dict]:
        """Relearning and probe results of up to TAMPER_REFERENCES OUT references, of the first
        `limit` (computed once)."""
        from dau_cli.engine.jobs import load_result, make_executor, run_jobs

        jobs = self.tamper_jobs(settings, device, limit)
        for job in jobs:  # a bad tamper result is set aside and computed again
            if Path(job.output).exists():
                try:
                    problem = tamper_problem(load_result(job.output), self.label("tamper"))
                except Exception as e:
                    problem = f"it cannot be read ({type(e).__name__})"
                if problem:
                    self.set_aside(Path(job.output), problem)
        if any(not Path(j.output).exists() for j in jobs):
            run_jobs(jobs, executor=make_executor(workers=workers, ray=ray), sink=sink, phase="reference tamper tests",
                     load=False)
        return [load_result(j.output) for j in jobs if Path(j.output).exists()]


def bank_for(ckpt: dict, forget: ForgetSet, home: Path | None = None) -> Bank:
    """The bank of the checkpoint's data view and recipe, for this forget set."""
    d = ckpt["data"]
    splits = {s: torch.as_tensor(d["splits"][s], dtype=torch.int64).tolist() for s in ("train", "val", "test")}
    spec = {"dataset": d["dataset"], "root": d["root"], "splits": splits, "arch": ckpt["arch"],
            "arch_args": dict(ckpt["arch_args"]), "recipe": recipe_of(ckpt),
            "options": dict(d.get("options") or {}), "fingerprint": d.get("fingerprint") or None}
    packed = ckpt.get("masks") or None
    root = (home or dau_home()) / "bank" / digest(view_key(ckpt))
    if packed:
        spec["masks"] = str(root / "masks.pt")  # a path, so every executor's job spec stays small and JSON-able
    forget_list = forget.indices.cpu().sort().values.tolist()
    return Bank(root=root, forget_digest=indices_digest(forget_list), spec=spec, forget=forget_list,
                exclude_seeds=frozenset(lineage_seeds(ckpt)), masks=packed)


def view_key(ckpt: dict) -> dict:
    """What a bank's folder digest stands for: data view, architecture, recipe and, for a pruned
    checkpoint only, the digest of its masks (a dense checkpoint's key has no masks entry)."""
    d = ckpt["data"]
    key = {"dataset": d["dataset"],
           "splits": {s: indices_digest(d["splits"][s]) for s in ("train", "val", "test")},
           "arch": ckpt["arch"], "arch_args": dict(ckpt["arch_args"]), "recipe": recipe_of(ckpt)}
    if d["dataset"] == "folder":  # a folder's name says nothing of its images: their fingerprint does
        key.update(fingerprint=d.get("fingerprint"), options=d.get("options"))
    if ckpt.get("masks"):
        key["masks"] = masks_digest(ckpt["masks"])
    return key
