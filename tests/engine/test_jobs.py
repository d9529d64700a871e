"""The job layer: outputs written once by the driver, failures reported, reruns finish the rest."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from dau_cli.engine.jobs import (InProcess, Job, Workers, failures, load_result, make_executor, run_jobs,
                                 worker_threads)
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

HERE = __name__  # the module name the job functions are imported by, in whatever process runs them


def square(x: int, marker: str | None = None) -> dict:
    if marker:  # counts how often a job really ran
        with open(marker, "a") as f:
            f.write(f"{x}\n")
    return {"x": x, "square": torch.tensor([x * x]), "pid": os.getpid(), "threads": torch.get_num_threads()}


def boom(x: int) -> dict:
    raise RuntimeError(f"job {x} broke")


def sleepy(x: int, pid_file: str, seconds: float) -> dict:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return {"x": x}


def _alive(pid: int) -> bool:
    """False once the process has ended (gone, or a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def not_a_dict() -> list:
    return [1, 2]


def jobs_for(folder: Path, xs, fn: str = "square", marker: Path | None = None) -> list[Job]:
    spec = (lambda x: {"x": x, "marker": str(marker)}) if marker else (lambda x: {"x": x})
    return [Job(f"{HERE}:{fn}", spec(x), folder / f"{fn}-{x}.pt", label=f"{fn} {x}") for x in xs]


class Events(EventSink):
    def __init__(self):
        super().__init__()
        self.events = []
        self.listeners.append(self.events.append)


def test_in_process_writes_each_result_and_reports_progress_as_one_bar(tmp_path: Path) -> None:
    sink = Events()
    outcomes = run_jobs(jobs_for(tmp_path, [1, 2, 3]), sink=sink)
    assert [o.status for o in outcomes] == ["done"] * 3
    assert [int(o.result["square"]) for o in outcomes] == [1, 4, 9]
    assert load_result(tmp_path / "square-3.pt")["square"].tolist() == [9]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    phases = [e for e in sink.events if e["type"] == "phase"]
    steps = [e["step"] for e in sink.events if e["type"] == "step"]
    assert len(phases) == 1 and phases[0]["total"] == 3 and steps == [1, 2, 3]


def test_a_failing_job_is_reported_writes_nothing_and_the_others_finish(tmp_path: Path) -> None:
    sink = Events()
    jobs = [*jobs_for(tmp_path, [1]), *jobs_for(tmp_path, [2], "boom"), *jobs_for(tmp_path, [3])]
    outcomes = run_jobs(jobs, sink=sink)
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    assert "RuntimeError: job 2 broke" in outcomes[1].error and "test_jobs.py" in outcomes[1].error
    assert not (tmp_path / "boom-2.pt").exists()
    warnings = [e["message"] for e in sink.events if e["type"] == "log"]
    assert len(warnings) == 1 and "boom 2" in warnings[0]
    line = failures(outcomes)
    assert line.startswith("1 of 3 jobs failed") and "boom 2: RuntimeError" in line
    assert failures(outcomes[:1]) is None


def test_a_result_that_is_not_a_dict_fails_that_job(tmp_path: Path) -> None:
    [o] = run_jobs([Job(f"{HERE}:not_a_dict", {}, tmp_path / "x.pt")])
    assert o.status == "failed" and "returned list" in o.error and not (tmp_path / "x.pt").exists()


def test_rerun_runs_only_the_unfinished_jobs(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    run_jobs(jobs_for(tmp_path, [1, 2], marker=marker))
    (tmp_path / "square-2.pt").unlink()  # as if interrupted before job 2 finished
    outcomes = run_jobs(jobs_for(tmp_path, [1, 2, 3], marker=marker))
    assert [o.status for o in outcomes] == ["skipped", "done", "done"]
    assert int(outcomes[0].result["square"]) == 1  # a skipped job's result is read from its output
    assert marker.read_text().split() == ["1", "2", "2", "3"]


def test_json_outputs_are_json(tmp_path: Path) -> None:
    [o] = run_jobs([Job(f"{HERE}:square", {"x": 4}, tmp_path / "four.json")])
    assert o.result["square"] == [16] and load_result(tmp_path / "four.json")["x"] == 4


def test_worker_processes_give_the_same_results_and_split_the_cores(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # else the explicit count wins
    outcomes = run_jobs([*jobs_for(tmp_path, [1, 2, 3]), *jobs_for(tmp_path, [4], "boom")], Workers(2))
    assert [o.status for o in outcomes] == ["done", "done", "done", "failed"]
    assert [int(o.result["square"]) for o in outcomes[:3]] == [1, 4, 9]
    assert "job 4 broke" in outcomes[3].error
    assert os.getpid() not in {o.result["pid"] for o in outcomes[:3]}
    cores = len(os.sched_getaffinity(0))
    assert {o.result["threads"] for o in outcomes[:3]} == {max(1, cores // 2)}


def test_workers_share_the_threads_dau_threads_gives(monkeypatch) -> None:
    """`dau --threads N` hands N down as DAU_THREADS: the workers share it, each at least 1."""
    monkeypatch.setenv("DAU_THREADS", "8")
    assert [worker_threads(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    monkeypatch.delenv("DAU_THREADS")
    cores = len(os.sched_getaffinity(0))
    assert worker_threads(1) == cores and worker_threads(2) == max(1, cores // 2)


def test_worker_processes_take_their_share_of_dau_threads_over_omp(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # --threads was given, so it wins over this
    monkeypatch.setenv("DAU_THREADS", "6")
    outcomes = run_jobs(jobs_for(tmp_path, [1, 2]), Workers(2))
    assert {o.result["threads"] for o in outcomes} == {3}


def test_make_executor_picks_by_the_flags() -> None:
    assert isinstance(make_executor(), InProcess)
    assert isinstance(make_executor(workers=3), Workers)
    with pytest.raises(DauError, match="--workers"):
        make_executor(workers=0)
    with pytest.raises(DauError, match="cluster"):
        make_executor(workers=2, ray="10.0.0.1:6379")


def test_a_ray_address_nothing_answers_at_is_one_line() -> None:
    pytest.importorskip("ray")
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DauError, match=f"nothing answers at the Ray address 127.0.0.1:{port}"):
        make_executor(ray=f"127.0.0.1:{port}")


@contextlib.contextmanager
def one_answer(reply: bytes | None):
    """A local port whose first connection gets `reply` (None: silence for 6 s); yields the port."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            if reply is None:
                threading.Event().wait(6)
            else:
                conn.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("reply", [b"HTTP/1.0 400 Bad request\r\n\r\n", None], ids=["a web server", "a silent service"])
def test_a_ray_address_where_another_service_answers_is_one_line(reply) -> None:
    """A port where a web server (or a service that says nothing) listens is named as not Ray in
    seconds, before Ray's client retries for minutes."""
    pytest.importorskip("ray")
    with one_answer(reply) as port:
        with pytest.raises(DauError, match=f"something answers at 127.0.0.1:{port} but it is not Ray"):
            make_executor(ray=f"127.0.0.1:{port}")


def test_a_ray_head_passes_the_probe() -> None:
    """What a gRPC server says first (an HTTP/2 SETTINGS frame) passes the probe; the probe then
    leaves the connection to Ray."""
    from dau_cli.ray_address import check_ray_address

    with one_answer(bytes([0, 0, 0x18, 4, 0, 0, 0, 0, 0])) as port:  # what Ray 2.60's GCS sent, measured
        check_ray_address(f"127.0.0.1:{port}")


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like to import
    with pytest.raises(DauError, match=r'pip install "dau\[ray\]"'):
        make_executor(ray=True)


def test_ray_gives_the_same_results_and_reports_a_failure(tmp_path: Path, ray_local) -> None:
    executor = ray_local
    assert ray_local.ray.cluster_resources()["CPU"] == 2
    jobs = [*jobs_for(tmp_path, [1, 2, 3]), *jobs_for(tmp_path, [4], "boom")]
    outcomes = run_jobs(jobs, executor)
    assert [o.status for o in outcomes] == ["done", "done", "done", "failed"]
    assert [int(o.result["square"]) for o in outcomes[:3]] == [1, 4, 9]
    assert "job 4 broke" in outcomes[3].error
    assert load_result(tmp_path / "square-2.pt")["square"].tolist() == [4]


def interrupt(x: int) -> dict:
    raise KeyboardInterrupt


def test_an_interrupted_set_keeps_what_finished_and_a_rerun_completes_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    jobs = jobs_for(tmp_path, [1, 2, 3], marker=marker)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C during the second job
        run_jobs([jobs[0], Job(f"{HERE}:interrupt", {"x": 2}, jobs[1].output), jobs[2]])
    assert (tmp_path / "square-1.pt").exists() and not (tmp_path / "square-2.pt").exists()
    outcomes = run_jobs(jobs)
    assert [o.status for o in outcomes] == ["skipped", "done", "done"]
    assert marker.read_text().split() == ["1", "2", "3"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stopping_a_worker_set_ends_its_running_jobs_at_once(tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM during `--workers` must not wait for the running jobs (a compare cell can
    take minutes): the worker processes are ended and nothing is written for them."""
    pid_file = tmp_path / "pid"
    jobs = [Job(f"{HERE}:square", {"x": 1}, tmp_path / "quick.pt"),
            Job(f"{HERE}:sleepy", {"x": 2, "pid_file": str(pid_file), "seconds": 300}, tmp_path / "slow.pt")]
    runs = Workers(2).run(jobs)
    assert next(runs)[0] is jobs[0]
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    start = time.monotonic()
    runs.close()  # what an interrupt in the consumer does to the generator
    assert time.monotonic() - start < 30
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid) and not (tmp_path / "slow.pt").exists()
