"""The house rules of the layout, checked: no import cycle among scanner/, chains/ and signatures/;
nothing imports a layer above it; a module over 500 lines says in its docstring why it is one file."""

from __future__ import annotations

import ast
from pathlib import Path

from support.common import ROOT

# lower number = lower layer; a module may import its own layer and those below
LAYERS = {
    "signatures": 0, "chains": 1,
    "scanner": 2, "scanner.amounts": 2, "scanner.records": 2, "scanner.errors": 2, "scanner.exitcodes": 2,
    "scanner.logs": 2, "scanner.csvcells": 2, "scanner.report_model": 2,
    "scanner.config": 3, "scanner.storage": 4, "scanner.pipeline": 5, "scanner.report": 6, "scanner.devnet": 7,
    "scanner.service": 8, "scanner.cli": 9, "scanner.__main__": 10,
}
PACKAGES = ("signatures", "chains", "scanner")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def _layer(module: str) -> int | None:
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            out.update(n for n in names if n in known)
            out.add(target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {t for t in out if t.split(".")[0] in PACKAGES and t in known and t != module}


def test_nothing_imports_a_layer_above_it():
    known = _modules()
    upward = []
    for module, path in known.items():
        for target in _imports(module, path, known):
            if (_layer(target) or 0) > (_layer(module) or 0):
                upward.append(f"{module} -> {target}")
    assert not upward, upward


def test_no_import_cycle():
    known = _modules()
    graph = {m: _imports(m, p, known) for m, p in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package and the modules under it that import it back are one Python package, not a cycle
            if len(component) > 1 and not all(c.startswith(min(component, key=len)) for c in component):
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_long_modules_say_why_they_are_one_file():
    long = []
    for module, path in _modules().items():
        text = path.read_text()
        if text.count("\n") > MAX_LINES and "Why one file:" not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{module} ({text.count(chr(10))} lines)")
    assert not long, long
