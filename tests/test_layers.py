"""Data flows one way: `_check`, `_paths` <- `schedules` <- `plateau` <- adapters <- builders <- `lab` <- `viz`
<- `cli`.

Every import in the package (top-level or inside a function, since lazy imports are still imports) is read
from the source with `ast`, resolved to an lrlab module, and checked against the layers: a module may import its
own layer or lower ones, adapters do not import each other, and nothing imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lrlab"

# rangetest (the range test's framework-free part) sits beside plateau: the adapters and the lab both use it; its
# suggestion rules (rangetest_rules) and its picture (rangetest_plot) are modules of their own on the same layer.
# The builders of frameworks that run on torch (lrlab.lightning, lrlab.transformers) drive their optimizers with
# lrlab.torch.Scheduler, so they sit above the adapters; they hand the lab a declared function, never import it.
# (lrlab.keras.experiment needs only lrlab.keras, so it stays in its adapter.)
LAYERS = {"_check": 0, "_paths": 0, "_shown": 0, "schedules": 1, "plateau": 2, "rangetest": 2, "rangetest_rules": 2,
          "rangetest_plot": 2, "torch": 3, "keras": 3, "jax": 3, "lightning": 4, "transformers": 4, "lab": 5, "viz": 6,
          "cli": 7}
ADAPTERS = {"torch", "keras", "jax"}
BUILDERS = {"lightning", "transformers"}
FACADE = {"__init__", "__main__"}  # `import lrlab` and `python -m lrlab`: entry points, not layers


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[int, list[str]]]:
    """(line, lrlab module path as parts) of every lrlab import in one file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path)[:-1]
    out: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")) for a in node.names if a.name.split(".")[0] == "lrlab"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "lrlab":
                target = node.module.split(".")
            else:
                continue
            if node.module is None:  # `from .. import x`: x is a module of that package
                out += [(node.lineno, [*target, a.name]) for a in node.names]
            else:
                out.append((node.lineno, target))
    return out


def _layer(parts: list[str]) -> str | None:
    """The layer a module path belongs to (None for the package facade itself and its attributes)."""
    if len(parts) < 2 or not ((SRC / parts[1]).is_dir() or (SRC / f"{parts[1]}.py").is_file()):
        return None
    return parts[1]


def _violations() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        me = _module_name(path)
        my_layer = _layer(me)
        if my_layer is None or my_layer in FACADE:
            continue
        assert my_layer in LAYERS, f"{path}: module outside every layer; add it to LAYERS"
        for line, target in _imports(path):
            their = _layer(target)
            where = f"{path.relative_to(SRC.parent)}:{line} imports {'.'.join(target)}"
            if their is None:
                their = "plateau"  # `import lrlab`: the facade exports schedules and plateau
            if their not in LAYERS:
                bad.append(f"{where}: not a known layer")
            elif their == "cli" and my_layer != "cli":
                bad.append(f"{where}: nothing imports the CLI")
            elif their in ADAPTERS and my_layer in ADAPTERS and their != my_layer:
                bad.append(f"{where}: adapters do not import each other")
            elif their in BUILDERS and my_layer in BUILDERS and their != my_layer:
                bad.append(f"{where}: builders do not import each other")
            elif LAYERS[their] > LAYERS[my_layer]:
                bad.append(f"{where}: a layer imports one above it")
    return bad


def test_no_layer_imports_one_above_it() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..lab.compare import compare\n", "a layer imports one above it"),
        ("def f():\n    from ..viz import report\n", "a layer imports one above it"),
        ("from .. import cli\n", "nothing imports the CLI"),
    ],
)
def test_the_checker_sees_upward_imports(tmp_path, monkeypatch, source: str, expected: str) -> None:
    """The check is not vacuous: an upward import planted in a copy of the package is reported."""
    import shutil

    copy = tmp_path / "lrlab"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "schedules" / "planted.py").write_text(source)
    monkeypatch.setitem(globals(), "SRC", copy)
    found = _violations()
    assert any("schedules/planted.py" in v and expected in v for v in found), found
