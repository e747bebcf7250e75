"""`import lrlab` works with none of the frameworks installed, and imports none of them when they are.

Each check runs in a fresh interpreter. "Not installed" is simulated by a meta-path finder that raises
ImportError for the frameworks, before anything else is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import lrlab

FRAMEWORKS = [
    "torch",
    "keras",
    "jax",
    "jaxlib",
    "optax",
    "tensorflow",
    "matplotlib",
    "pandas",
    "sklearn",
    "transformers",
]

BLOCK = textwrap.dedent(
    f"""
    import importlib.abc, sys

    BLOCKED = set({FRAMEWORKS!r})

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked (simulated: not installed)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    """
)

LOADED = "\ndef loaded():\n    return sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)\n"


def run(code: str, *, block: bool = True) -> subprocess.CompletedProcess:
    prelude = (BLOCK if block else f"import sys\nBLOCKED = set({FRAMEWORKS!r})\n") + LOADED
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def last_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_block_really_blocks():
    proc = run(
        """
        import json
        out = {}
        for name in sorted(BLOCKED):
            try:
                __import__(name)
                out[name] = "imported"
            except ImportError:
                out[name] = "blocked"
        print(json.dumps(out))
        """
    )
    assert last_json(proc) == {name: "blocked" for name in FRAMEWORKS}


def test_import_lrlab_and_evaluate_without_frameworks():
    proc = run(
        """
        import json
        import lrlab
        s = lrlab.parse("cosine(0.1, decay_steps=10)")
        import numpy as np
        arr = s(np.arange(3)).tolist()
        cfg = lrlab.from_config(s.to_config()) == s
        plateau = lrlab.Plateau(patience=0)
        plateau.step(1.0); plateau.step(2.0)
        print(json.dumps({"value": s(3), "array": arr, "config": cfg, "scale": plateau.scale,
                          "loaded": loaded()}))
        """
    )
    out = last_json(proc)
    s = lrlab.parse("cosine(0.1, decay_steps=10)")
    assert out["value"] == s(3)
    assert out["array"] == [s(0), s(1), s(2)]
    assert out["config"] is True
    assert out["scale"] == 0.1
    assert out["loaded"] == []


def test_lrlab_list_works_without_frameworks():
    proc = run(
        """
        import json
        from lrlab.cli import main
        code = main(["list"])
        print(json.dumps({"code": code, "loaded": loaded()}))
        """
    )
    out = last_json(proc)
    assert out == {"code": 0, "loaded": []}
    listed = proc.stdout
    for kind in lrlab.KINDS:
        assert f"\n{kind}(" in "\n" + listed, kind


def test_lrlab_plot_preview_works_without_frameworks():
    proc = run(
        """
        import json
        from lrlab.cli import main
        code = main(["plot", "cosine(0.1)", "--steps", "20"])
        print(json.dumps({"code": code, "loaded": loaded()}))
        """
    )
    assert last_json(proc) == {"code": 0, "loaded": []}


def test_adapters_say_which_framework_is_missing():
    proc = run(
        """
        import json
        out = {}
        for adapter in ("lrlab.keras", "lrlab.jax", "lrlab.torch"):
            try:
                __import__(adapter)
                out[adapter] = "imported"
            except ImportError as exc:
                out[adapter] = exc.name
        print(json.dumps(out))
        """
    )
    assert last_json(proc) == {"lrlab.keras": "keras", "lrlab.jax": "jax", "lrlab.torch": "torch"}


def test_import_lrlab_loads_no_framework_when_they_are_installed():
    # Without the block: a module that tries a framework import and swallows the error would pass the
    # blocked tests but still pay for the import here.
    proc = run(
        """
        import json
        import lrlab
        import lrlab.cli
        lrlab.cli.build_parser()
        lrlab.parse("one_cycle(0.1, total_steps=100)")(5)
        print(json.dumps(loaded()))
        """,
        block=False,
    )
    assert last_json(proc) == []
