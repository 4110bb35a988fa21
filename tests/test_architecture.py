"""The layout is the architecture: layers import downward only, no circles, no private names across modules.

See docs/architecture.md. The layers, lowest first::

    settings < core < registry < routing < analysis < web < cli

A module may import from its own layer or any lower one. Pages and the app
sit above all of them and may import anything in ``geo``. The library
never imports Streamlit.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GEO = ROOT / "geo"
LAYERS = ["settings", "core", "registry", "routing", "analysis", "web", "cli"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(GEO.rglob("*.py"))}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "geo":
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each geo module's imports of other geo modules (functions' lazy imports included)."""
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, path.name == "__init__.py")
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    found.add(sub if sub in modules else target)
        out[name] = {m for m in found if m in modules and m != name}
    return out


MODULES = _modules()
IMPORTS = _imports(MODULES)


def test_every_module_is_in_a_layer():
    loose = [m for m in MODULES if m not in ("geo", "geo.__main__") and _layer(m) is None]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"


def test_layers_import_downward_only():
    upward = [(m, t) for m, targets in IMPORTS.items() for t in targets
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert not upward, "upward imports (module -> target): " + ", ".join(f"{m} -> {t}" for m, t in upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    # A package's __init__ importing its own modules is not a circle of design.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in IMPORTS.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_used_across_modules():
    used = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, path.name == "__init__.py")
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        used.append(f"{name}: from {target} import {a.name}")
                    if f"{target}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{target}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname and a.name in MODULES:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                used.append(f"{name}: {aliases[node.value.id]}.{node.attr}")
    assert not used, "private names used from another module: " + "; ".join(sorted(set(used)))


def test_the_library_never_imports_streamlit():
    bad = [m for m, p in MODULES.items() if "streamlit" in {
        (a.name if isinstance(n, ast.Import) else (n.module or "")).split(".")[0]
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))) if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in (n.names if isinstance(n, ast.Import) else [n])}]
    assert not bad


def _environment_reads(tree: ast.AST) -> list[int]:
    """Lines that touch ``os.environ`` / ``os.getenv`` (or import them from ``os``)."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names and isinstance(node.value, ast.Name) \
                and node.value.id == "os":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in names for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


def test_only_settings_reads_the_environment():
    # Every variable is read in geo/settings.py, paths when they are asked for,
    # so a test or server that sets one after import is obeyed everywhere.
    readers = [f"{MODULES[m].relative_to(ROOT)}:{line}" for m in MODULES if m != "geo.settings"
               for line in _environment_reads(ast.parse(MODULES[m].read_text(encoding="utf-8")))]
    assert not readers, "environment read outside geo/settings.py: " + ", ".join(readers)


def test_environment_finder_finds_reads():
    tree = ast.parse("import os\nfrom os import getenv\na = os.environ.get('X')\nb = os.getenv('Y')\n")
    assert _environment_reads(tree) == [2, 3, 4]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_stay_small(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= 650, f"{MODULES[name].relative_to(ROOT)} has {lines} lines; split it by concern"


PAGES = sorted((ROOT / "pages").rglob("*.py"))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_stay_thin(path):
    # Pages and pages/common only arrange widgets; what they compute belongs in geo/web/views.
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 150, f"{path.relative_to(ROOT)} has {lines} lines; move its logic to geo/ or pages/common/"


@pytest.mark.parametrize("path", [*PAGES, ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_hold_no_script_or_style(path):
    # JavaScript and CSS live in static/gd/ (served at /app/static/gd/), not in Python strings.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    strings = [n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]
    found = [s[:60] for s in strings if re.search(r"<style|<script|export default function|\{\s*[\w-]+\s*:[^}]*;\s*\}",
                                                  s)]
    assert not found, f"{path.relative_to(ROOT)} holds script or style in strings: {found}"
