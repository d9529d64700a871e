"""The authors' DAU attacker: what it sees, its network, its pre-training and its cache.

`docs/method.md` ("The players") defines it. Per sample and class the attacker sees three
numbers: the defender's logit, the one-hot label entry and the logit's finite-difference
*sensitivity* (mean over m Gaussian perturbations of the input, of std sigma, of
|logit(noisy) - logit(clean)| / sigma). `TokenAttacker` batch-normalises the 3*C inputs, makes
them C tokens of 3, embeds each into 64 dimensions, runs a small Transformer encoder over the
tokens and answers member / non-member with 2 logits.

Pre-training depends only on the original model and the attacker's settings, so the trained
attacker is cached under `<DAU_HOME>/cache/attackers/`, keyed by a digest of the model's weights
and masks, the data view and those settings; a second forget from the same checkpoint loads it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dau_cli.engine.train import autocast

MEMBER, NON_MEMBER = 1, 0


class TokenAttacker(nn.Module):
    """BN over 3*C inputs, C tokens of (logit, label, sensitivity), linear 64 + GELU, 3-layer
    Transformer encoder (4 heads, feed-forward 128, dropout 0.2, GELU), flatten, 64 ReLU, 2 logits."""

    def __init__(self, num_classes: int, width: int = 64, layers: int = 3, heads: int = 4, ff: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm1d(3 * num_classes)
        self.embed = nn.Linear(3, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=ff, dropout=dropout, activation="gelu",
                                           batch_first=True)
        # enable_nested_tensor only matters for padding masks, which tokens of a fixed count never need
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.hidden = nn.Linear(width * num_classes, width)
        self.out = nn.Linear(width, 2)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 3C) laid out [logits | one-hot | sensitivity] -> (B, 2) logits of (non-member, member)."""
        b, c = inputs.shape[0], self.num_classes
        tokens = self.norm(inputs).view(b, 3, c).transpose(1, 2)  # (B, C, 3): class k's three numbers
        h = self.encoder(F.gelu(self.embed(tokens)))
        return self.out(F.relu(self.hidden(h.reshape(b, -1))))


def sensitivity(model: nn.Module, x: torch.Tensor, logits: torch.Tensor, sigma: float, copies: int,
                noise: torch.Tensor | None = None) -> torch.Tensor:
    """mean_m |logits(x + sigma * eps_m) - logits(x)| / sigma, (B, C); differentiable in the model.

    The m noisy copies go through the model as one batch, apart from the clean batch (as in the
    authors' code, which matters when batch norm uses batch statistics). `noise` (m*B, ...) may be
    given; by default it is drawn from the global generator.
    """
    b = x.shape[0]
    noisy = x.repeat(copies, *([1] * (x.dim() - 1)))
    noisy = noisy + sigma * (torch.randn_like(noisy) if noise is None else noise)
    with autocast(x.device):
        out = model(noisy).float()
    return (out - logits.repeat(copies, 1)).abs().view(copies, b, -1).mean(0) / sigma


def view(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, sigma: float, copies: int,
         noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(penultimate features, logits, attacker input [logits | one-hot | sensitivity]) of a batch.

    Everything keeps its graph, so an adversarial loss on the input reaches the model through
    the logits and the sensitivities. The caller sets the model's train/eval mode.
    """
    with autocast(x.device):
        feats, logits = model.forward_with_features(x)
    logits = logits.float()
    sens = sensitivity(model, x, logits, sigma, copies, noise)
    onehot = F.one_hot(y, num_classes).float()
    return feats.float(), logits, torch.cat([logits, onehot, sens], dim=1)


def membership_targets(n_members: int, n_non_members: int, device, reverse: bool = False) -> torch.Tensor:
    """Class targets for the attacker's cross-entropy; `reverse` swaps them (the defender's loss)."""
    m, n = (NON_MEMBER, MEMBER) if reverse else (MEMBER, NON_MEMBER)
    return torch.cat([torch.full((n_members,), m), torch.full((n_non_members,), n)]).to(device)


# ----------------------------------------------------------------------------- the cache


def model_digest(model: nn.Module, masks: dict[str, torch.Tensor] | None, data_desc: dict, settings: dict) -> str:
    """A content digest of what pre-training depends on: weights, masks, data view, settings."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    for name, m in sorted((masks or {}).items()):
        h.update(name.encode())
        h.update(m.cpu().to(torch.uint8).numpy().tobytes())
    for split in ("train", "val"):
        h.update(data_desc["splits"][split].cpu().numpy().tobytes())
    h.update(json.dumps({"dataset": data_desc["dataset"], **settings}, sort_keys=True).encode())
    return h.hexdigest()[:24]


def cache_path(digest: str) -> Path:
    from dau_cli.runs import dau_home

    return dau_home() / "cache" / "attackers" / f"{digest}.pt"


def load_cached(attacker: nn.Module, digest: str) -> bool:
    """Load a cached attacker into `attacker`; False if there is none (or it is unreadable)."""
    path = cache_path(digest)
    if not path.is_file():
        return False
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        attacker.load_state_dict(state["state_dict"])
    except Exception:  # a damaged or foreign file: pre-train again and replace it
        return False
    return True


def save_cached(attacker: nn.Module, digest: str, meta: dict) -> Path:
    """Write the attacker atomically (temporary file, then rename)."""
    path = cache_path(digest)
    from dau_cli.files import write

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"state_dict": {k: v.detach().cpu() for k, v in attacker.state_dict().items()}, "meta": meta}
    write(path, lambda f: torch.save(state, f), force=True)  # a cache: the same digest means the same attacker
    return path
