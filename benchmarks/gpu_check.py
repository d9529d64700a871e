"""The CUDA path measured in one call: everything docs/results.md asks of a GPU, into one JSON file.

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out gpu_check.json          # 330 s budget
    python3 benchmarks/gpu_check.py --small --out /tmp/gpu_check.json                # tiny, any CPU, < 1 min

Runs from a source checkout with no install step, on a machine with its own torch. Besides torch
it needs torchvision, numpy, scikit-learn, pytest and (for the NVML reading) nvidia-ml-py; it
does not need platformdirs, textual, pytest-asyncio or Ray. Sections, each under its own hard
time limit and inside one overall budget, each recording its result or its error and moving on:

  environment          torch, CUDA, GPU, CPU
  nvml                 one reading as the dashboard takes it (tui/gpu.py)
  cuda_tests           tests/engine/test_cuda.py through pytest in a subprocess
  throughput           ResNet-18 on 32x32 images: dau's pipeline (`fit` as `dau train` runs it)
                       against a DataLoader loop with per-image transforms (4 workers, fp32),
                       the same steps, as benchmarks/train_throughput.py measures them
  ceiling              a bare bf16 channels_last ResNet-18 step loop on a fixed on-device batch
  cifar                a CIFAR-shaped synthetic learnable data set (50,000 + 10,000 3x32x32 images
                       made here) through train (a few epochs), DAU class forgetting and
                       retraining without the class: wall times, image passes, UA / RA / TA
  ceiling_compiled     the ceiling under torch.compile
  throughput_compiled  dau's pipeline with train.compile on

The JSON is rewritten after every section, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
# Runs and caches go to a scratch folder; this also keeps platformdirs out of the import path.
os.environ.setdefault("DAU_HOME", tempfile.mkdtemp(prefix="dau-gpu-check-"))


class SectionTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise SectionTimeout


def log(message: str) -> None:
    print(f"[gpu_check] {message}", flush=True)


class Report:
    """The JSON file, and running one section under its time limit."""

    def __init__(self, out: Path, budget: float, meta: dict):
        self.out, self.budget, self.start = out, budget, time.perf_counter()
        self.data = {"meta": meta, "sections": {}}
        self.write()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(tmp, self.out)

    def section(self, name: str, fn, limit: float) -> dict:
        left = self.budget - self.elapsed()
        rec: dict = {}
        if left < min(limit, 20):
            entry = {"ok": False, "skipped": f"only {left:.0f} s of the {self.budget:.0f} s budget left"}
            log(f"{name}: skipped ({entry['skipped']})")
        else:
            limit = min(limit, left)
            log(f"{name} (limit {limit:.0f} s, {self.elapsed():.0f} s elapsed)")
            signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, limit)
            t0 = time.perf_counter()
            try:
                fn(rec)
                entry = {"ok": True}
            except SectionTimeout:
                entry = {"ok": False, "error": f"timed out after {limit:.0f} s (the result holds what it had measured)"}
            except Exception as e:  # noqa: BLE001 - every section reports its own failure and the next one runs
                entry = {"ok": False, "error": f"{type(e).__name__}: {e}",
                         "traceback": traceback.format_exc().splitlines()[-12:]}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            log(f"{name}: {'ok' if entry['ok'] else entry['error']} ({entry['seconds']} s) {json.dumps(rec, default=str)[:600]}")
        entry["result"] = rec
        self.data["sections"][name] = entry
        self.write()
        return rec


# ----------------------------------------------------------------------------- sections


def environment(rec: dict, device) -> None:
    import torch

    rec.update(python=platform.python_version(), torch=str(torch.__version__), cuda=torch.version.cuda,
               device=str(device), cpu_cores=os.cpu_count(), host=platform.node())
    try:
        with open("/proc/cpuinfo") as f:
            rec["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        rec["cpu"] = platform.processor()
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        rec.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                   gpus_visible=torch.cuda.device_count(), bf16=torch.cuda.is_bf16_supported())
    from importlib import metadata

    rec["packages"] = {}
    for name in ("torchvision", "numpy", "scikit-learn", "nvidia-ml-py", "pytest", "ray", "platformdirs", "textual"):
        try:
            rec["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            rec["packages"][name] = None


def nvml(rec: dict) -> None:
    from dataclasses import asdict

    from tui.gpu import NvmlReader, describe

    reader = NvmlReader()
    samples = reader()
    reader.close()
    rec["samples"] = [asdict(s) for s in samples] if samples else None
    rec["shown"] = describe(samples)


def cuda_tests(rec: dict, limit: float) -> None:
    # pytest-asyncio may be absent there: the file needs none of it, and its ini option only warns.
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "cuda",
           "tests/engine/test_cuda.py"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    rec["command"] = " ".join(cmd[1:])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(limit - 5, 5))
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    rec.update(returncode=proc.returncode, summary=lines[-1] if lines else "", tail=lines[-25:])
    if proc.returncode not in (0, 5):  # 5: nothing collected
        raise RuntimeError(f"pytest exited {proc.returncode}: {rec['summary']}")


def throughput(rec: dict, device, small: bool, compiled: bool = False) -> None:
    import torch

    import train_throughput as tt
    from dau_cli.config import TrainConfig
    from dau_cli.engine.models import build_model

    arch, steps, bs, workers, warmup = ("cnn", 4, 32, 2, 1) if small else ("resnet18", 200, 256, 4, 5)
    arch_args = {"width": 8} if small else {}
    n = steps * bs
    images, labels = tt.synthetic_images(n, 32)
    cfg = TrainConfig(epochs=1, batch_size=bs, crop_pad=4, flip=True, device=str(device), compile=compiled)
    torch.manual_seed(0)
    model = build_model(arch, 10, (3, 32, 32), **arch_args)
    rec.update(model=arch, images=n, batch_size=bs, steps=steps, precision="bf16 autocast" if device.type == "cuda" else "fp32")
    t0 = time.perf_counter()
    dau_s = tt.time_dau(copy.deepcopy(model), images, labels, cfg, device, warmup)
    rec.update(dau_images_per_s=n / dau_s, dau_seconds=dau_s, dau_total_seconds_with_warmup=time.perf_counter() - t0)
    if compiled:
        return
    tv_s = tt.time_torchvision(copy.deepcopy(model), images, labels, cfg, device, warmup, workers)
    rec.update(dataloader_images_per_s=n / tv_s, dataloader_seconds=tv_s, dataloader_workers=workers,
               dataloader_precision="fp32", ratio=tv_s / dau_s)


def ceiling(rec: dict, device, small: bool, compiled: bool = False) -> None:
    """Forward, backward and SGD step on one fixed batch already on the device: no data path at all."""
    import torch
    import torch.nn.functional as F

    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import autocast, prepare, sgd

    arch, steps, bs = ("cnn", 3, 32) if small else ("resnet18", 100, 256)
    torch.manual_seed(0)
    model = prepare(build_model(arch, 10, (3, 32, 32), **({"width": 8} if small else {})), device).train()
    fwd = torch.compile(model) if compiled else model
    x = torch.rand(bs, 3, 32, 32, device=device).contiguous(
        memory_format=torch.channels_last if device.type == "cuda" else torch.contiguous_format)
    y = torch.randint(0, 10, (bs,), device=device)
    opt = sgd(model.parameters(), 0.05)

    def step() -> None:
        with autocast(device):
            loss = F.cross_entropy(fwd(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(3 if small else 10):
        step()
    sync()
    rec["warmup_seconds"] = time.perf_counter() - t0  # compilation included when compiled
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    s = time.perf_counter() - t0
    rec.update(model=arch, batch_size=bs, steps=steps, compiled=compiled, seconds=s, images_per_s=steps * bs / s,
               precision="bf16 autocast, channels_last" if device.type == "cuda" else "fp32")


def synthetic_cifar(n_train: int, n_test: int, seed: int = 0):
    """A learnable CIFAR-shaped set: per class a smooth random colour pattern, shifted by up to
    4 pixels, scaled by a random contrast, under heavy pixel noise. uint8 (N, 3, 32, 32)."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    templates = F.interpolate(torch.rand(10, 3, 4, 4, generator=g) * 2 - 1, size=(40, 40), mode="bicubic",
                              align_corners=False)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.empty(n, 3, 32, 32, dtype=torch.uint8)
    for i in range(0, n, 5000):  # in chunks, to keep memory small
        y = labels[i:i + 5000]
        oy, ox = torch.randint(0, 9, (2, len(y)), generator=g)
        rows = (oy[:, None] + torch.arange(32))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(32))[:, None, None, :]
        pat = templates[y[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
        contrast = 0.5 + torch.rand(len(y), 1, 1, 1, generator=g)
        x = 128 + 60 * contrast * pat + 45 * torch.randn(len(y), 3, 32, 32, generator=g)
        images[i:i + 5000] = x.clamp(0, 255).round().to(torch.uint8)
    is_test = torch.zeros(n, dtype=torch.bool)
    is_test[n_train:] = True
    return images, labels, is_test


def cifar(rec: dict, device, small: bool, epochs: int) -> None:
    import torch

    from dau_cli.config import as_dict, resolve
    from dau_cli.engine.checkpoint import lineage_entry, new_checkpoint, restore_model
    from dau_cli.engine.data import Data, make_splits
    from dau_cli.engine.forget import unlearn
    from dau_cli.engine.forget_sets import retain_indices, select_forget_set
    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import accuracy, fit, prepare
    from dau_cli.runs import EventSink

    n_train, n_test = (600, 200) if small else (50_000, 10_000)
    t0 = time.perf_counter()
    images, labels, is_test = synthetic_cifar(n_train, n_test)
    splits = {k: torch.from_numpy(v) for k, v in make_splits(labels.numpy(), is_test.numpy(), 0).items()}
    data = Data("synthetic-cifar", "", images, labels, splits, [str(c) for c in range(10)]).to(device)
    rec["data"] = {k: len(v) for k, v in splits.items()} | {"made_in_s": round(time.perf_counter() - t0, 2)}
    arch, arch_args = ("cnn", {"width": 8}) if small else ("resnet18", {})
    sets = [f"train.epochs={epochs}", f"train.device={device.type}"]
    if small:
        sets += ["model.width=8", "dau.epochs=1", "dau.attacker_warmup=5", "dau.calibration=64"]
    config = resolve("cifar10-resnet18", {"model.arch": arch}, sets)
    sink = EventSink()
    sink.listeners.append(lambda e: e["type"] == "phase" and log(f"  {e['phase']}: {e.get('total')} steps"))
    torch.manual_seed(0)
    model = prepare(build_model(arch, 10, (3, 32, 32), **arch_args), device)
    res = fit(model, data, splits["train"], config["train"], sink)
    test_acc = accuracy(model, data, splits["test"])
    rec["train"] = {"model": arch, "epochs": epochs, "wall_time_s": res["wall_time_s"],
                    "image_passes": res["image_passes"], "images_per_s": res["image_passes"] / res["wall_time_s"],
                    "test_acc": test_acc, "recipe": "cifar10-resnet18 (batch 256, cosine, crop 4, flip)"}
    entry = lineage_entry("train", as_dict(config), res["wall_time_s"], res["image_passes"], str(device))
    ckpt = new_checkpoint(model, arch, arch_args, data.describe(), as_dict(config), {"test_acc": test_acc}, [entry])
    fs = select_forget_set(data.labels.cpu(), splits["train"], classes="0", num_classes=10)
    retain = retain_indices(splits["train"], fs.indices)
    test_rest = splits["test"][data.labels.cpu()[splits["test"]] != 0]
    test_class = splits["test"][data.labels.cpu()[splits["test"]] == 0]
    for method in ("retrain", "dau"):  # retraining first: if DAU runs out of time, its progress says how far it got
        m = restore_model(ckpt, device)
        sink.listeners.append(lambda e, k=method: e["type"] == "step" and rec.update(
            {f"{k}_progress": {x: e.get(x) for x in ("phase", "step", "total", "epoch")}}))
        cost = unlearn(ckpt, m, data, fs, method, config, sink)
        sink.listeners.pop()
        rec[method] = {"wall_time_s": cost["wall_time_s"], "image_passes": cost["image_passes"],
                       "ua": 100 - accuracy(m, data, fs.indices), "ra": accuracy(m, data, retain),
                       "ta": accuracy(m, data, test_rest), "forgotten_class_test_acc": accuracy(m, data, test_class)}
        log(f"  {method}: {rec[method]}")
    rec["dau_over_retrain_time"] = rec["dau"]["wall_time_s"] / rec["retrain"]["wall_time_s"]
    per_epoch = rec["retrain"]["wall_time_s"] / epochs
    rec["retrain_182_epochs_estimate_s"] = per_epoch * 182  # the literature's CIFAR-10 recipe
    rec["dau_over_retrain_182_epochs"] = rec["dau"]["wall_time_s"] / rec["retrain_182_epochs_estimate_s"]


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the JSON file to write")
    p.add_argument("--small", action="store_true", help="tiny sizes and a small CNN: runs anywhere in well under a minute")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--budget", type=float, default=330, help="seconds for all sections together (default 330)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs of the CIFAR-shaped run (default 4)")
    args = p.parse_args(argv)

    import torch

    from dau_cli.engine.train import pick_device

    device = pick_device(args.device)
    small = args.small
    if small:  # tiny work gains nothing from more threads, and spinning ones stall a busy machine
        torch.set_num_threads(1)
    meta = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]), "small": small,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "budget_s": args.budget}
    try:
        meta["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        meta["commit"] = None
    report = Report(args.out, args.budget, meta)
    log(f"writing {args.out}; device {device}{' (--small)' if small else ''}; budget {args.budget:.0f} s")
    scale = 0.5 if small else 1.0  # --small: the limits shrink with the work
    report.section("environment", lambda r: environment(r, device), 30)
    report.section("nvml", nvml, 15)
    report.section("cuda_tests", lambda r: cuda_tests(r, 150 * scale if not small else 60), 150 if not small else 60)
    report.section("throughput", lambda r: throughput(r, device, small), 100 * scale)
    report.section("ceiling", lambda r: ceiling(r, device, small), 60 * scale)
    report.section("cifar", lambda r: cifar(r, device, small, 1 if small else args.epochs), 210 * scale)
    if small or not hasattr(torch, "compile"):
        for name in ("ceiling_compiled", "throughput_compiled"):
            report.data["sections"][name] = {"ok": False, "skipped": "--small (compiling takes longer than the rest)"}
        report.write()
    else:
        report.section("ceiling_compiled", lambda r: ceiling(r, device, small, compiled=True), 100)
        report.section("throughput_compiled", lambda r: throughput(r, device, small, compiled=True), 100)

    s = report.data["sections"]
    summary = {}
    tp, ce, cc = s["throughput"]["result"], s["ceiling"]["result"], s.get("ceiling_compiled", {}).get("result", {})
    if "dau_images_per_s" in tp and "dataloader_images_per_s" in tp:
        summary["dau_vs_dataloader"] = tp["dau_images_per_s"] / tp["dataloader_images_per_s"]
    if "dau_images_per_s" in tp and "images_per_s" in ce:
        summary["ceiling_vs_dau"] = ce["images_per_s"] / tp["dau_images_per_s"]
    if "dau_images_per_s" in tp and "images_per_s" in cc:
        summary["compiled_ceiling_vs_dau"] = cc["images_per_s"] / tp["dau_images_per_s"]
    if "dau_over_retrain_time" in s["cifar"]["result"]:
        summary["dau_over_retrain_time"] = s["cifar"]["result"]["dau_over_retrain_time"]
    summary["sections_ok"] = [k for k, v in s.items() if v.get("ok")]
    summary["sections_failed"] = [k for k, v in s.items() if not v.get("ok")]
    summary["total_seconds"] = round(report.elapsed(), 1)
    report.data["summary"] = summary
    report.write()
    log(f"summary: {json.dumps(summary)}")
    log(f"wrote {args.out}")
    return report.data


if __name__ == "__main__":
    main()
