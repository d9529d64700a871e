"""The unlearning methods by name, one line each: what `--method` accepts and `dau methods` lists;
and how `dau compare --methods` names a method with settings of its own (`dau[dau.repair_lr=0.03]`).

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


def check_method(name: str, flag: str = "--method") -> str:
    """`name` if it is a method; else one DauError line naming it, the closest method and `dau methods`."""
    from dau_cli.settings import check_name

    return check_name(name, METHODS, f"{flag}: unknown method", "`dau methods` says what each does")


# ----------------------------------------------------------------------------- compare's columns
# `dau compare --methods` takes methods, and a method with settings in brackets, keys as `--set` takes
# them, is a column of its own: `dau,dau[dau.repair_lr=0.03],dau[dau.repair_lr=0.015,dau.repair_steps=80]`.


def parse_methods(text: str) -> list[str]:
    """--methods as a list of columns, spaces dropped: `dau, dau[dau.repair_lr = 0.03]` ->
    ["dau", "dau[dau.repair_lr=0.03]"]. One DauError line for an empty list, an unknown method, a
    bracket left open or closed twice, a column without settings in its brackets, a setting of
    another section than the method's, or a column given twice. `column_config` checks the keys and
    values."""
    from dau_cli.errors import DauError

    example = "e.g. --methods 'dau,dau[dau.repair_lr=0.03]'"
    items, depth, start = [], 0, 0
    for i, c in enumerate(text + ","):
        depth += {"[": 1, "]": -1}.get(c, 0)
        if depth not in (0, 1):
            raise DauError(f"--methods '{text}': brackets are not nested or closed twice; {example}")
        if c == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth:
        raise DauError(f"--methods '{text}': a bracket is left open; {example}")
    columns = [_column(item, example) for item in items if item]
    if not columns:
        raise DauError(f"--methods is empty; e.g. --methods {','.join(METHODS)}")
    twice = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if twice:
        raise DauError(f"--methods names {twice} twice; give each column once (or change its settings)")
    return columns


def _column(item: str, example: str) -> str:
    """One --methods item, checked (a known method; settings as KEY=VALUE, each of the method's own
    section) and written without spaces."""
    from dau_cli.errors import DauError

    method, bracket, rest = item.partition("[")
    method = method.strip()
    check_method(method, "--methods")
    if not bracket:
        return method
    inside, _, after = rest.partition("]")
    sets = [s.strip() for s in inside.split(",") if s.strip()]
    if after.strip() or not sets:
        raise DauError(f"--methods: '{item}' is not METHOD[KEY=VALUE,...]; {example}")
    bare = next((s for s in sets if "=" not in s), None)
    if bare:
        raise DauError(f"--methods: '{bare}' in '{item}' needs KEY=VALUE; {example}")
    other = next((s.split("=")[0].strip() for s in sets if s.split(".")[0].strip() != method), None)
    if other:
        raise DauError(f"--methods: in '{item}', {method} reads only [{method}] settings, not {other}; give "
                       f"{method}.KEY=VALUE (`dau recipes show` lists the keys)")
    return f"{method}[{','.join('='.join(p.strip() for p in s.split('=', 1)) for s in sets)}]"


def split_column(name: str) -> tuple[str, list[str]]:
    """A column's method and its settings as `--set` items (parse_methods wrote it):
    `dau[dau.lr=0.03,dau.alpha=1]` -> ("dau", ["dau.lr=0.03", "dau.alpha=1"]); `ft` -> ("ft", [])."""
    method, _, rest = name.partition("[")
    return method, [s for s in rest.rstrip("]").split(",") if s]


def column_config(config: dict, name: str) -> dict:
    """`config` (config.resolve's sections) with the column's settings applied, each checked as
    `--set` checks it; a key of another section than the column's method (one it does not read) is
    refused in one line that names the column."""
    method, sets = split_column(name)
    if not sets:
        return config
    from dau_cli.config import as_dict, resolve

    return resolve(base=as_dict(config), sets=sets, uses=(method,), command=f"the column {name}",
                   sets_from=f"--methods {name}")
