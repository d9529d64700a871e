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
        raise DauError(f"{dotted} must be one of {shown}, got '{value}'{source}")
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


def did_you_mean(given: str, known: Collection[str]) -> str:
    """` (did you mean 'x'?)` for the closest known name, or nothing when none is close."""
    import difflib

    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
