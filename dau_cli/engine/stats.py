"""Per-sample statistics of a classifier's outputs (docs/audit.md, "Threshold attacks").

One implementation serves both the audit's attacks and the DAU attacker's input, so what the
attacker learns to exploit during unlearning is exactly what the audit measures afterwards.
Everything is computed from logits with torch and is differentiable in them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# The scalar statistics the population attacks use, each oriented so that larger = "more member".
ATTACK_STATISTICS = ("confidence", "loss", "entropy", "modified_entropy", "logit_scaled_confidence")
# Sign that orients a statistic so that larger values mean "member" (members have low loss, ...).
MEMBER_SIGN = {"confidence": 1.0, "loss": -1.0, "entropy": -1.0, "modified_entropy": -1.0,
               "logit_scaled_confidence": 1.0}


def sample_stats(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every per-sample statistic, each of shape (B,) except `probs` (B, K).

    - confidence  p_y
    - loss        -log p_y
    - entropy     H(p) = -Σ p_i log p_i
    - modified_entropy  -(1-p_y) log p_y - Σ_{i≠y} p_i log(1-p_i)   (Song & Mittal, 2021)
    - logit_scaled_confidence  log p_y - log Σ_{j≠y} p_j = z_y - logsumexp_{j≠y} z_j
      (computed from logits: in float32, 1 - p_y rounds to 0 for confident samples)
    - grad_norm   ‖∂ℓ/∂z‖₂ = ‖p - e_y‖₂, the loss's sensitivity to the logits, in closed form
    - correct     1.0 where argmax = y
    """
    logits = logits.float()
    log_p = F.log_softmax(logits, dim=1)
    p = log_p.exp()
    onehot = F.one_hot(labels, logits.shape[1]).to(p.dtype)
    log_p_y = (log_p * onehot).sum(1)
    p_y = log_p_y.exp()
    others = logits.masked_fill(onehot.bool(), float("-inf"))
    log1m_p = torch.log1p(-p.clamp(max=1 - 1e-7))  # log(1 - p_i), finite
    return {
        "confidence": p_y,
        "loss": -log_p_y,
        "entropy": -(p * log_p).sum(1),
        "modified_entropy": -(1 - p_y) * log_p_y - (p * log1m_p * (1 - onehot)).sum(1),
        "logit_scaled_confidence": (logits * onehot).sum(1) - torch.logsumexp(others, dim=1),
        "grad_norm": (p - onehot).norm(dim=1),
        "correct": (logits.argmax(1) == labels).to(p.dtype),
        "probs": p,
    }


def attacker_features(logits: torch.Tensor, labels: torch.Tensor, label_free: bool = True,
                      input_grad_norm: torch.Tensor | None = None) -> torch.Tensor:
    """φ(x, y) for the DAU attacker (docs/method.md, "What the attacker sees"): (B, F).

    Label-aware group: confidence, logit-scaled confidence, loss, modified entropy; sensitivity:
    ‖p - e_y‖₂ and, if given, ‖∇ₓℓ‖₂. Label-free group (class forgetting drops it): the top-k
    sorted probabilities (k = min(10, K)) and the entropy H(p), which does not depend on y either:
    in class forgetting it told the forget images from the reference images by how confident
    they were on *any* class, and pushed the defender to stay confident (docs/results.md).
    """
    s = sample_stats(logits, labels)
    cols = [s["confidence"], s["logit_scaled_confidence"], s["loss"], s["modified_entropy"], s["grad_norm"]]
    if input_grad_norm is not None:
        cols.append(input_grad_norm)
    feats = torch.stack(cols, dim=1)
    if label_free:
        k = min(10, logits.shape[1])
        top_k = s["probs"].sort(dim=1, descending=True).values[:, :k]
        feats = torch.cat([top_k, s["entropy"][:, None], feats], dim=1)
    return feats
