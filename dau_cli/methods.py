"""The unlearning methods by name, one line each: what `--method` accepts and `dau methods` lists.

Torch-free, so the CLI offers and checks the names before it imports torch. The engine's registry
(`dau_cli.engine.unlearn.METHODS`) holds the code; a test keeps the two lists the same.
"""

from __future__ import annotations

METHODS: dict[str, str] = {  # each line fits 80 columns after the name
    "dau": "an attacker tells D_f from unseen data; the model learns to fool it",
    "dau-authors": "DAU as in the authors' code: a token attacker on logits and labels",
    "retrain": "train afresh on the retain set: the ideal reference, the slowest",
    "ft": "fine-tune on the retain set, cosine-decayed learning rate",
    "ga": "gradient ascent on the forget set's cross-entropy",
    "rl": "random wrong labels on the forget set, mixed with the retain set",
    "l1": "fine-tune on the retain set with a decaying L1 penalty",
    "salun": "rl on the most salient weights only; the others keep their values",
    "scrub": "move away from the original on D_f, stay close to it on D_r",
}
