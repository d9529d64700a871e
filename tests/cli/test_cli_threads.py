"""`dau --threads N`: torch's threads in the command's process, and the total its job workers share."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.mark.parametrize("value", ["0", "x", "1.5", "-2"])
def test_threads_that_are_not_a_whole_number_of_at_least_one_are_one_line(dau, user_error, value):
    line = user_error(dau("--threads", value, "methods"))
    assert "--threads" in line and "at least 1" in line and repr(value) in line


def test_threads_sets_torchs_threads_and_hands_the_count_to_the_workers(dau, monkeypatch):
    monkeypatch.setenv("DAU_THREADS", "")  # restored (unset) after the test; the command sets it
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        r = dau("--threads", "1", "methods")
        assert r.exit_code == 0, r.output
        assert torch.get_num_threads() == 1
        assert os.environ["DAU_THREADS"] == "1"  # what dau_cli.engine.jobs.worker_threads shares out
        assert dau("--threads", "3", "methods").exit_code == 0 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_without_threads_torch_keeps_its_count(dau, monkeypatch):
    monkeypatch.delenv("DAU_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert dau("methods").exit_code == 0 and torch.get_num_threads() == 2
        assert "DAU_THREADS" not in os.environ
    finally:
        torch.set_num_threads(before)
