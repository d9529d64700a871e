"""Training throughput: dau's data pipeline against the loop research code usually writes.

    python benchmarks/train_throughput.py [--model cnn|lenet|resnet18] [--steps N] [--batch-size B]
                                          [--device cpu|cuda] [--size 32] [--data synthetic|digits|fashion-mnist]

Both loops train the same model, from the same initial weights, on the same uint8 images for the
same number of steps, with the same optimiser (SGD, Nesterov) and one-cycle schedule and the same
augmentation (padded random crop, horizontal flip). Only the way data reaches the model and the
precision differ:

(a) dau: `dau_cli.engine.train.fit` itself, as `dau train` runs it. The dataset is one uint8
    tensor on the device, a batch is an index slice, augmentation is one batched tensor
    operation, normalisation sits inside the model; on CUDA, bf16 autocast and channels_last.
(b) the usual research loop: a `Dataset` that returns one PIL image at a time through
    per-image torchvision transforms (RandomCrop(padding), RandomHorizontalFlip, ToTensor,
    Normalize), a `DataLoader` (num_workers=2, shuffle, pinned memory on CUDA), fp32, and the
    loss read back with `.item()` every step for a running average.

Each loop first runs a few warm-up steps (allocator, cuDNN autotuning), then is timed over the
whole run, the baseline's worker start-up included (an epoch pays it too). Images per second =
steps x batch size / seconds.

Measured on 2 cores of an "Intel(R) Xeon(R) Processor" VM, torch 2.14.1, no GPU, while other jobs
kept the load average at 4-7 (so treat them as ±20 %):

    command                                                           dau    torchvision  ratio
    train_throughput.py   (cnn, synthetic 3x32x32, 30 steps x 128)     84 img/s   76 img/s  1.11x  (1 min 51 s)
    ... --threads 1                          (40 steps)               142 img/s  129 img/s  1.10x
    ... --data digits --crop-pad 1 --no-flip --steps 300 --threads 1  4314 img/s 2553 img/s  1.69x
    ... --model resnet18 --steps 10 --batch-size 32 --warmup 2 --threads 1
                                                                       22 img/s   21 img/s  1.05x

On CPU a 32x32 conv net is compute-bound, so the data path matters little; on small images
(digits) the per-image PIL work of the DataLoader is the bottleneck. On a GPU the compute shrinks by
orders of magnitude while per-image Python does not, which is where bf16 + the on-device pipeline
are meant to pay off (run it with --device cuda). Beside other jobs, torch's two spinning
intra-op threads can slow both loops several-fold; --threads 1 gives steadier numbers there.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from dau_cli.config import TrainConfig
from dau_cli.engine.data import Data
from dau_cli.engine.models import build_model
from dau_cli.engine.train import fit, pick_device, prepare, sgd
from dau_cli.runs import EventSink

# ----------------------------------------------------------------------------- data


def synthetic_images(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random RGB uint8 images (N, 3, size, size) and labels; throughput does not care what they show."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def digits_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as dau loads them, repeated to n images."""
    from dau_cli.engine.datasets import load_digits

    images, labels, _, _ = load_digits(None, False)
    reps = -(-n // len(labels))
    return np.tile(images, (reps, 1, 1, 1))[:n], np.tile(labels, reps)[:n]


def fashion_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n of Fashion-MNIST's training images (1x28x28), read as `dau train` reads them."""
    from dau_cli.engine.data import load_data

    data = load_data("fashion-mnist")
    if n > int((~data.is_test).sum()):
        raise SystemExit(f"error: --steps x --batch-size is {n}, more than Fashion-MNIST's 60,000 training images")
    return data.images[:n].numpy(), data.labels[:n].numpy()


class PILImages(torch.utils.data.Dataset):
    """The torchvision-style dataset: HWC uint8 in memory, one PIL image per item (as CIFAR10 does)."""

    def __init__(self, images_chw: np.ndarray, labels: np.ndarray, transform):
        self.images = np.ascontiguousarray(images_chw.transpose(0, 2, 3, 1))
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        img = self.images[i]
        img = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
        return self.transform(img), int(self.labels[i])


# ----------------------------------------------------------------------------- the two loops


def time_dau(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, cfg: TrainConfig,
             device: torch.device, warmup: int) -> float:
    model = prepare(model, device)
    data = Data("bench", "", torch.from_numpy(images), torch.from_numpy(labels), {}, [str(c) for c in range(10)]).to(device)
    idx = torch.arange(len(labels))
    if warmup:
        fit(model, data, idx[: warmup * cfg.batch_size], cfg, EventSink())
    return fit(model, data, idx, cfg, EventSink())["wall_time_s"]


def time_torchvision(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, cfg: TrainConfig,
                     device: torch.device, warmup: int, workers: int) -> float:
    import torchvision.transforms as T

    channels, size = images.shape[1], images.shape[2]
    with torch.no_grad():  # normalisation moves out of the model into the transforms, as usual
        model.mean.zero_()
        model.std.fill_(1.0)
    model = model.to(device)
    steps = [T.RandomCrop(size, padding=cfg.crop_pad)] if cfg.crop_pad else []
    steps += [T.RandomHorizontalFlip()] if cfg.flip else []
    transform = T.Compose([*steps, T.ToTensor(), T.Normalize((0.5,) * channels, (0.25,) * channels)])
    dataset = PILImages(images, labels, transform)
    total = -(-len(dataset) // cfg.batch_size)
    opt = sgd(model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total + warmup, pct_start=0.25)
    pin = device.type == "cuda"

    def epoch(ds) -> None:
        loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                                             pin_memory=pin)
        running = 0.0
        model.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()

    if warmup:
        epoch(torch.utils.data.Subset(dataset, range(warmup * cfg.batch_size)))
    start = time.perf_counter()
    epoch(dataset)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- the machine


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"
    if device.type == "cuda":
        text += f", {torch.cuda.get_device_name(device)}"
    return text


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="cnn", help="a registered model: cnn, lenet, resnet18, vgg16_bn (default cnn)")
    p.add_argument("--steps", type=int, default=30, help="timed optimisation steps per loop (default 30)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--size", type=int, default=32, help="image side of the synthetic data (default 32)")
    p.add_argument("--data", choices=("synthetic", "digits", "fashion-mnist"), default="synthetic",
                   help="random RGB images of --size, the real 8x8 digits repeated, or Fashion-MNIST's training "
                        "images (default synthetic)")
    p.add_argument("--crop-pad", type=int, default=4, help="padding of the random crop (default 4, as for CIFAR)")
    p.add_argument("--no-flip", action="store_true", help="leave out horizontal flips")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline (default 2)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each loop (default 3)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads (default: torch's choice); 1 is steadier on a machine shared with other jobs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = pick_device(args.device)
    n = args.steps * args.batch_size
    images, labels = {"synthetic": lambda: synthetic_images(n, args.size), "digits": lambda: digits_images(n),
                      "fashion-mnist": lambda: fashion_images(n)}[args.data]()
    cfg = TrainConfig(epochs=1, batch_size=args.batch_size, crop_pad=args.crop_pad, flip=not args.no_flip,
                      device=str(device))
    torch.manual_seed(0)
    model = build_model(args.model, 10, tuple(images.shape[1:]))

    dau_s = time_dau(copy.deepcopy(model), images, labels, cfg, device, args.warmup)
    tv_s = time_torchvision(copy.deepcopy(model), images, labels, cfg, device, args.warmup, args.workers)
    result = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": machine(device),
        "device": str(device),
        "model": args.model,
        "data": f"{args.data} {'x'.join(map(str, images.shape[1:]))} uint8",
        "batch_size": args.batch_size,
        "steps": args.steps,
        "dau_images_per_s": n / dau_s,
        "torchvision_images_per_s": n / tv_s,
        "speedup": tv_s / dau_s,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"machine: {result['machine']}; device {device}")
        print(f"{args.model} on {result['data']}, batch {args.batch_size}, {args.steps} steps "
              f"(+{args.warmup} warm-up), crop pad {args.crop_pad}, flip {not args.no_flip}")
        print(f"  dau pipeline          {result['dau_images_per_s']:9.0f} images/s  ({dau_s:.1f} s)")
        print(f"  torchvision DataLoader{result['torchvision_images_per_s']:9.0f} images/s  ({tv_s:.1f} s, "
              f"{args.workers} workers, fp32)")
        print(f"  dau / torchvision     {result['speedup']:9.2f}x")
    return result


if __name__ == "__main__":
    from dau_cli.errors import DauError

    try:
        main()
    except DauError as e:  # e.g. --device cuda without a GPU: one line, as the CLI does
        sys.exit(f"error: {e}")
