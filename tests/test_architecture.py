"""The rules of docs/architecture.md, checked on the source: import layers, no import circle (imports
inside functions count), no module-level state the engine changes, and the size limits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules() -> dict[str, Path]:
    """Dotted name -> file, with tui/ under its installed name dau_cli.tui."""
    found = {}
    for path in sorted(ROOT.glob("dau_cli/**/*.py")) + sorted(ROOT.glob("tui/**/*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[0] == "tui":
            parts = ["dau_cli", "tui", *parts[1:]]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every dau module `name` imports, at any depth of its code (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            wanted = [target, *(f"{target}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            wanted = [a.name for a in node.names]
        else:
            continue
        for w in wanted:
            w = "dau_cli.tui" + w[3:] if w == "tui" or w.startswith("tui.") else w
            if w in known and w != name:
                out.add(w)
            elif w not in known and w.startswith(("dau_cli", "tui")) and w.rpartition(".")[0] in known:
                out.add(w.rpartition(".")[0])
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(root: str) -> None:
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(g[child]))))
                elif child in on:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


BASE = ("dau_cli.config", "dau_cli.settings", "dau_cli.files", "dau_cli.runs", "dau_cli.errors", "dau_cli.methods",
        "dau_cli.verdicts", "dau_cli.ray_address")


@pytest.mark.parametrize("layer, forbidden", [
    ("dau_cli.engine", ("dau_cli.cli", "dau_cli.tui")),
    ("dau_cli.tui", ("dau_cli.engine", "dau_cli.cli")),
    *((base, ("dau_cli.engine", "dau_cli.cli", "dau_cli.tui")) for base in BASE),
])
def test_each_layer_imports_only_what_it_may(layer, forbidden):
    g = graph()
    wrong = sorted(f"{m} -> {d}" for m, deps in g.items() if m == layer or m.startswith(layer + ".")
                   for d in deps if d.startswith(forbidden))
    assert wrong == []


@pytest.mark.parametrize("layer, libraries", [
    ("dau_cli/engine", {"typer", "rich", "textual"}),
    ("tui", {"torch", "torchvision"}),
])
def test_layers_keep_off_libraries_of_other_layers(layer, libraries):
    wrong = sorted(f"{p.relative_to(ROOT)}: {lib}" for p in (ROOT / layer).rglob("*.py")
                   for lib in third_party(p) & libraries)
    assert wrong == []


def changed_module_state(path: Path) -> list[str]:
    """Module-level names that functions rebind (`global`) or change in place (item assignment,
    append/update/...): state that outlives a call."""
    tree = ast.parse(path.read_text())
    top = {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
           for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    found = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        local = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        for n in ast.walk(fn):
            if isinstance(n, ast.Global):
                found += [f"{fn.name}: global {g}" for g in n.names]
            elif isinstance(n, (ast.Assign, ast.AugAssign, ast.Delete)):
                for t in (n.targets if isinstance(n, (ast.Assign, ast.Delete)) else [n.target]):
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in top - local:
                        found.append(f"{fn.name}: {t.value.id}[...]")
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                  and n.func.value.id in top - local
                  and n.func.attr in {"append", "extend", "update", "add", "pop", "clear", "setdefault", "insert",
                                      "remove", "discard", "popitem"}):
                found.append(f"{fn.name}: {n.func.value.id}.{n.func.attr}()")
    return found


def test_the_engine_keeps_no_module_level_state():
    found = {str(p.relative_to(ROOT)): changed for p in sorted((ROOT / "dau_cli" / "engine").rglob("*.py"))
             if (changed := changed_module_state(p))}
    assert found == {}


def test_the_state_finder_finds_a_cache(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("CACHE = {}\nN = 0\ndef f(k):\n    global N\n    CACHE[k] = 1\n    N += 1\n")
    assert changed_module_state(path) == ["f: global N", "f: CACHE[...]"]


MAX_FILE, MAX_FUNCTION = 400, 80


def over_limits() -> set[str]:
    """Files over MAX_FILE lines and functions over MAX_FUNCTION, as "path" and "path:function"."""
    over = set()
    for path in sorted(ROOT.glob("dau_cli/**/*.py")) + sorted(ROOT.glob("tui/**/*.py")):
        rel = str(path.relative_to(ROOT))
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE:
            over.add(rel)
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION:
                over.add(f"{rel}:{n.name}")
    return over


def test_no_file_or_function_over_the_limits():
    assert over_limits() == set(), f"over {MAX_FILE} lines a file or {MAX_FUNCTION} a function"
