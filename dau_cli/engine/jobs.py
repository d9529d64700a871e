"""Jobs: many independent runs (compare's cells, the audit's reference models) on whatever runs them.

A `Job` names a function by its import path and the JSON-able keyword arguments to call it with,
and a deterministic output path. `run_jobs` skips every job whose output exists, runs the rest on
an executor, and writes each result to its output atomically, in the driver: a finished job is
never lost and never repeated, a failed one writes nothing and is retried by the next run. One job
that raises is reported (its label and the error) and the others finish.

Executors: in this process (default), local worker processes (`workers > 1`; one GPU each when
several are visible) and Ray (`ray=True` for a local instance, `ray="ADDRESS"` for a cluster;
the optional extra `dau[ray]`). Nothing else in the engine knows where a job runs.

The function runs wherever the executor puts it and returns a dict of tensors, numbers, strings,
lists and dicts. The worker encodes it (torch.save, or JSON for a `.json` output), the bytes come
back to the driver, and the driver writes them. Outputs are read back with `load_result`, which
loads only weights and plain containers (`weights_only=True`), so a file can never run code.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dau_cli.errors import DauError
from dau_cli.files import jsonable as _jsonable
from dau_cli.ray_address import check_ray_address
from dau_cli.runs import EventSink

RAY_EXTRA = 'pip install "dau[ray]"'
# `dau --threads N` (dau_cli/cli) sets this variable: the torch threads the command's local workers share.
THREADS_ENV = "DAU_THREADS"


@dataclass(frozen=True)
class Job:
    fn: str  # "package.module:function", imported in whatever process runs the job
    spec: dict  # JSON-able keyword arguments; fn(**spec) returns the result dict
    output: Path  # deterministic; the driver writes the result here; a job whose output exists is done
    label: str = ""  # for progress and error messages, e.g. "retrain seed 3"

    @property
    def name(self) -> str:
        return self.label or self.output.name


@dataclass
class JobOutcome:
    job: Job
    status: str  # "done" | "skipped" (its output existed) | "failed"
    result: dict | None = None
    error: str | None = None


# ----------------------------------------------------------------------------- one job, anywhere


def _describe(e: BaseException) -> str:
    """One line: the message of a user's mistake, else the type, message and innermost frame."""
    if isinstance(e, DauError):
        return str(e)
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0]
    frames = traceback.extract_tb(e.__traceback__)
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return text


def encode(result: Any, output: str | Path) -> bytes:
    """The bytes of `output`: JSON for a `.json` path, else torch.save (weights-only loadable)."""
    if not isinstance(result, dict):
        raise TypeError(f"a job returns a dict, this one returned {type(result).__name__}")
    if Path(output).suffix == ".json":
        return json.dumps(result, indent=2, default=_jsonable).encode()
    import torch

    buf = io.BytesIO()
    torch.save(result, buf)
    return buf.getvalue()


def decode(data: bytes, output: str | Path) -> dict:
    if Path(output).suffix == ".json":
        return json.loads(data)
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def execute(fn: str, spec: dict, output: str) -> tuple[str, bytes | str]:
    """Run one job here: ("ok", encoded result) or ("error", one line). Never raises an Exception."""
    try:
        module, _, name = fn.partition(":")
        result = getattr(importlib.import_module(module), name)(**spec)
        data = encode(result, output)
        decode(data, output)  # what cannot be read back safely is a failure of this job, not of the driver
        return "ok", data
    except Exception as e:  # noqa: BLE001 - every failure of a job is reported, the others go on
        return "error", _describe(e)


def write_atomic(path: Path, data: bytes) -> None:
    """A job's result through the one writer (dau_cli.files); results are a cache, so it replaces."""
    from dau_cli.files import write

    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, lambda f: f.write(data), force=True)


RESULT_LIMIT = 4 << 30  # bytes: a reference of a large model with its weights is ~0.1 GB


def load_result(path: str | Path) -> dict:
    """A job's result from its output file (JSON for `.json`, else torch.load weights_only); a FIFO,
    a device or a file beyond RESULT_LIMIT is an OSError, never a hang or a flood of memory."""
    from dau_cli.runs import read_regular

    path = Path(path)
    return decode(read_regular(path, RESULT_LIMIT), path)


# ----------------------------------------------------------------------------- executors

Finished = tuple[Job, str, "bytes | str"]  # (job, "ok" | "error", encoded result | error line)


class Executor(Protocol):
    def run(self, jobs: list[Job]) -> Iterator[Finished]:
        """Run `jobs`, yielding each as it finishes (in any order)."""
        ...


class InProcess:
    """One job after another in this process (the default)."""

    def run(self, jobs: list[Job]) -> Iterator[Finished]:
        for job in jobs:
            yield (job, *execute(job.fn, job.spec, str(job.output)))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_threads(workers: int) -> int:
    """Torch threads for each of `workers` local worker processes: an even share (at least 1) of
    `dau --threads N` (DAU_THREADS, checked by the CLI), else of this process's cores."""
    given = os.environ.get(THREADS_ENV, "")
    total = int(given) if given.strip().isdecimal() and int(given) >= 1 else _cores()
    return max(1, total // workers)


def _visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as names for CUDA_VISIBLE_DEVICES."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:n] if listed else [str(i) for i in range(n)]


def _init_worker(threads: int, gpus) -> None:
    """A worker's setup: its share of the cores, its own GPU when there are several (before
    anything initialises CUDA in this process), and a watch on the driver: a worker whose driver
    is gone (killed outright, so it could not end them) exits within a second instead of running
    every queued job for nobody."""
    import threading

    driver = os.getppid()

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="dau-driver-watch").start()
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()
    import torch

    if os.environ.get(THREADS_ENV) or not os.environ.get("OMP_NUM_THREADS"):  # --threads, then OMP's, win
        torch.set_num_threads(threads)


class Workers:
    """Local worker processes (spawned, so CUDA is safe): cores // workers torch threads each, or
    N // workers with `dau --threads N` (else OMP_NUM_THREADS, when set, says how many), and, with
    several GPUs visible, one GPU per worker.

    On the CPU a job's numbers depend on torch's thread count too (float sums in another order),
    so runs with different thread counts can differ in the last digits; with the same count (as
    with OMP_NUM_THREADS=1) they are bit-identical wherever they run."""

    def __init__(self, workers: int):
        if workers < 1:
            raise DauError(f"--workers needs at least 1, got {workers}")
        self.workers = workers

    def run(self, jobs: list[Job]) -> Iterator[Finished]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        if not jobs:
            return
        ctx = multiprocessing.get_context("spawn")
        n = min(self.workers, len(jobs))
        gpus, queue = _visible_gpus(), None
        if len(gpus) > 1:
            queue = ctx.Queue()
            for i in range(n):
                queue.put(gpus[i % len(gpus)])
        pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                                   initargs=(worker_threads(n), queue))
        finished = False
        try:
            futures = {pool.submit(execute, j.fn, j.spec, str(j.output)): j for j in jobs}
            for f in as_completed(futures):
                try:
                    yield (futures[f], *f.result())
                except BrokenProcessPool:
                    yield futures[f], "error", "its worker process died (out of memory?); rerun to retry it"
            finished = True
        finally:
            if not finished:
                # stopped (Ctrl-C, SIGTERM) or abandoned: the running jobs are ended, not awaited (a
                # compare cell can take minutes). The driver writes every output, so none is half-written.
                for process in list((pool._processes or {}).values()):
                    process.terminate()
            pool.shutdown(wait=finished, cancel_futures=True)


def _wants_gpu(job: Job, cluster_gpus: float) -> bool:
    device = str(job.spec.get("device", "cpu"))
    return device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)


class Ray:
    """Ray tasks: a local instance (`address=None`, with `cpus` CPUs, default all) or a cluster; a
    task asks for a GPU when its job runs on CUDA (spec `device` cuda, or auto on a cluster with GPUs).

    A local instance's workers get this process's import path, so what the driver imports (dau
    from a source checkout, a test's job functions) they import too. On a cluster, dau must be
    installed on every node.
    """

    def __init__(self, address: str | None = None, cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise DauError(f"--ray needs Ray, which is not installed; install the extra: {RAY_EXTRA}") from None
        self.ray = ray
        if address:
            check_ray_address(address)
        if ray.is_initialized():
            return
        import logging
        import sys

        try:
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                path = os.pathsep.join(dict.fromkeys(os.path.abspath(p or ".") for p in sys.path))
                ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
                         runtime_env={"env_vars": {"PYTHONPATH": path}})
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise DauError(f"could not start or reach {where}: {str(e).splitlines()[0] if str(e) else e}; "
                           f"check the address (ray status on the head node prints it)") from None

    def run(self, jobs: list[Job]) -> Iterator[Finished]:
        ray = self.ray
        if not jobs:
            return
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(execute)
        refs = {task.options(num_cpus=1, num_gpus=1 if _wants_gpu(j, gpus) else 0).remote(j.fn, j.spec, str(j.output)): j
                for j in jobs}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                ref = ready[0]
                try:
                    yield (refs[ref], *ray.get(ref))
                except Exception as e:  # noqa: BLE001 - a lost worker or node fails this job only
                    yield refs[ref], "error", f"its Ray task failed: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}"
        finally:
            for ref in pending:
                ray.cancel(ref)


def make_executor(workers: int = 1, ray: str | bool | None = None) -> Executor:
    """`ray` True (or "local") for a local Ray instance (with `workers` CPUs if more than 1), an
    address for a cluster; else `workers` local processes, or this process for 1."""
    if workers < 1:
        raise DauError(f"--workers needs at least 1, got {workers}")
    if ray:
        local = ray is True or ray == "local"
        if workers > 1 and not local:
            raise DauError("--workers sizes a local Ray instance; a cluster at --ray ADDRESS places jobs itself")
        return Ray(None if local else str(ray), cpus=workers if workers > 1 else None)
    return Workers(workers) if workers > 1 else InProcess()


# ----------------------------------------------------------------------------- the driver


def run_jobs(jobs: list[Job], executor: Executor | None = None, sink: EventSink | None = None,
             phase: str = "jobs", load: bool = True) -> list[JobOutcome]:
    """Run every job whose output does not exist; return one outcome per job, in order.

    Results are written to each job's output as they arrive. An output that exists but cannot be
    read is never overwritten: that job fails, naming the file to delete. Progress is one `phase` event and a
    `step` event per finished job (skipped ones count at once); a failure is also a warning
    `log` event. With `load=False` the outcomes carry no results (read them with `load_result`).
    """
    executor = executor or InProcess()
    sink = sink or EventSink()
    outcomes: dict[Path, JobOutcome] = {}
    todo: dict[Path, Job] = {}
    for job in jobs:
        if job.output in outcomes or job.output in todo:
            continue  # the same output asked for twice is one job
        if job.output.exists():
            try:
                outcomes[job.output] = JobOutcome(job, "skipped", load_result(job.output) if load else None)
            except Exception as e:  # noqa: BLE001 - never silently redone over a file this layer did not write
                outcomes[job.output] = JobOutcome(job, "failed", error=f"its output {job.output} exists but cannot be "
                                                  f"read ({type(e).__name__}); delete it to run the job again")
        else:
            todo[job.output] = job
    total = len(outcomes) + len(todo)
    sink.emit("phase", phase=phase, total=total)
    done = len(outcomes)
    if done:
        sink.emit("step", phase=phase, step=done, total=total)
    for job, status, payload in executor.run(list(todo.values())):
        if status == "ok":
            try:
                write_atomic(job.output, payload)
                outcomes[job.output] = JobOutcome(job, "done", decode(payload, job.output) if load else None)
            except OSError as e:
                status, payload = "error", f"its result could not be written to {job.output}: {e}"
        if status != "ok":
            outcomes[job.output] = JobOutcome(job, "failed", error=payload)
            sink.emit("log", level="warning", message=f"job {job.name} failed: {payload}")
        done += 1
        sink.emit("step", phase=phase, step=done, total=total)
    return [outcomes[j.output] for j in jobs]


def failures(outcomes: list[JobOutcome]) -> str | None:
    """None if every job finished, else one line naming each failed job and why."""
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return None
    unique = {o.job.output: o for o in failed}.values()
    return (f"{len(unique)} of {len({o.job.output for o in outcomes})} jobs failed (the others are kept; "
            f"rerun to retry): " + "; ".join(f"{o.job.name}: {o.error}" for o in unique))
