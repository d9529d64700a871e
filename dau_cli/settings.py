"""How a setting is declared and checked: `opt` declares a default with its meaning and valid
range, `check` applies the range, `did_you_mean` suggests the closest name. Torch-free."""

import dataclasses
import math
import re
from collections.abc import Collection
from dataclasses import field
from typing import Any

from dau_cli.errors import DauError


def opt(default: Any, help: str, *, min: float | None = None, max: float | None = None, above: float | None = None,
        below: float | None = None, choices: tuple[str, ...] | None = None, pattern: tuple[str, str] | None = None) -> Any:
    """A setting with its default, its meaning and its valid range, declared together.

    `min`/`max` are inclusive bounds, `above`/`below` exclusive ones; `choices` lists the valid
    strings and `pattern` (a regular expression, and how a message shows it) admits more, e.g.
    `cuda:1`. `check` applies them.
    """
    rules = {k: v for k, v in (("min", min), ("max", max), ("above", above), ("below", below), ("choices", choices),
                               ("pattern", pattern)) if v is not None}
    return field(default=default, metadata={"help": help, **rules})


UNBOUNDED_SEED = 2**63 - 1  # the largest seed torch.manual_seed and numpy both take
LR = {"above": 0.0, "max": 10.0}  # a learning rate: positive, and beyond 10 every model here diverges
FRACTION_OPEN = {"above": 0.0, "below": 1.0}


def check(dotted: str, f: dataclasses.Field, value: Any, where: str = "") -> None:
    """The one range check: a value against the rules declared with its field (see `opt`)."""
    m = f.metadata
    source = f" (from {where})" if where else ""
    if "choices" in m and value not in m["choices"] and not (
            "pattern" in m and isinstance(value, str) and re.fullmatch(m["pattern"][0], value)):
        shown = ", ".join(m["choices"]) + (f" or {m['pattern'][1]}" if "pattern" in m else "")
        hint = did_you_mean(value, m["choices"]) if isinstance(value, str) else ""
        raise DauError(f"{dotted} must be one of {shown}, got '{value}'{hint}{source}")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > 2**63:  # beyond every range here, and beyond a float's reach
        raise DauError(f"{dotted} must be {_range(m) or 'a finite number'} ({m.get('help', '').split(' (')[0]}), "
                       f"got a {len(str(abs(value)))}-digit number{source}")
    ok = math.isfinite(value) and all(
        bound is None or test(bound) for bound, test in ((m.get("min"), lambda b: value >= b),
                                                         (m.get("above"), lambda b: value > b),
                                                         (m.get("max"), lambda b: value <= b),
                                                         (m.get("below"), lambda b: value < b)))
    if not ok:
        raise DauError(f"{dotted} must be {_range(m) or 'a finite number'} ({m.get('help', '').split(' (')[0]}), "
                       f"got {value:g}{source}")


def _range(m: dict) -> str:
    low = f"at least {m['min']:g}" if "min" in m else f"above {m['above']:g}" if "above" in m else ""
    high = f"at most {m['max']:g}" if "max" in m else f"below {m['below']:g}" if "below" in m else ""
    return " and ".join(p for p in (low, high) if p)


def check_name(given: str, known: Collection[str], what: str, listed: str) -> str:
    """`given` if it is one of `known`; else one line: `what` and the unknown name, the closest
    known one, the choices and where they are explained (`listed`), e.g. `--method: unknown method
    'daau' (did you mean 'dau'?); choose one of dau, ... (`dau methods` says what each does)`."""
    if given not in known:
        raise DauError(f"{what} '{given}'{did_you_mean(given, known)}; choose one of {', '.join(known)} ({listed})")
    return given


def did_you_mean(given: str, known: Collection[str], n: int = 1, prefixes: bool = False) -> str:
    """` (did you mean 'x'?)` for the closest known name (up to `n` names as close as the closest:
    ` (did you mean 'x' or 'y'?)`), or nothing when none is close. See `closest`."""
    names = [f"'{c}'" for c in closest(given, known, n, prefixes)]
    if not names:
        return ""
    return f" (did you mean {' or '.join([', '.join(names[:-1]), names[-1]] if len(names) > 1 else names)}?)"


def closest(given: str, known: Collection[str], n: int = 1, prefixes: bool = False) -> list[str]:
    """The known names closest to `given` by difflib's ratio, case aside, if that is at least 0.6:
    the closest one, or up to `n` as close as it, in `known`'s order. With `prefixes` (a `given` of
    4 characters or more), a name's start of `given`'s length counts too: a mistyped start of a
    long run id finds the id."""
    import difflib

    matcher = difflib.SequenceMatcher(b=given.lower())  # b is the side difflib caches
    scored = []
    for name in known:
        texts = {name.lower(), name[:len(given)].lower()} if prefixes and len(given) >= 4 else {name.lower()}
        score = 0.0
        for text in texts:
            matcher.set_seq1(text)
            if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
                score = max(score, matcher.ratio())
        if score >= 0.6:
            scored.append((score, name))
    best = max((s for s, _ in scored), default=0.0)
    return [name for s, name in scored if s == best][:n]
