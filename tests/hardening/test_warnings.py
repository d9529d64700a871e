"""Group 10: warnings from libraries do not add lines to a one-line error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch


def test_a_torch_warning_during_a_refused_load_stays_out_of_the_error(refused, tmp_path, monkeypatch):
    real_load = torch.load

    def noisy_load(*args, **kwargs):
        warnings.warn("pickle protocol 5 is not supported, falling back", UserWarning)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", noisy_load)
    bad = tmp_path / "bad.pt"
    torch.save({"format": "dau-checkpoint", "version": 1}, bad)
    refused("info", bad, inputs=[bad], says=["damaged dau checkpoint: missing arch"])


def test_numpys_cast_warning_from_an_index_file_stays_out_of_the_error(refused, ckpt, tmp_path):
    indices = tmp_path / "idx.npy"
    np.save(indices, np.array([np.nan, 1e30, 3.0]))
    refused("forget", ckpt, "--indices", indices, "-o", tmp_path / "f.pt", inputs=[ckpt, indices])


def test_warnings_of_a_command_that_succeeds_are_still_shown(dau, ckpt, monkeypatch):
    real_load = torch.load

    def noisy_load(*args, **kwargs):
        warnings.warn("a library's note", UserWarning)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", noisy_load)
    with pytest.warns(UserWarning, match="a library's note"):  # handed on to Python's warning display
        result = dau("info", ckpt, "--json")
    assert result.exit_code == 0


def test_torchs_pickle_protocol_warning_stays_out_of_the_error(refused, tmp_path):
    """A legacy-format checkpoint pickled with protocol 5: torch warns about the protocol, then refuses."""
    import pickle

    path = tmp_path / "legacy.pt"
    torch.save({"format": "dau-checkpoint", "version": 1}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL,
               _use_new_zipfile_serialization=False)
    refused("info", path, inputs=[path], says=["not a readable dau checkpoint", "safe loader cannot read"])
