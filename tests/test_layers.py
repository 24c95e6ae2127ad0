"""The package's layers only look down: no module imports one on a higher floor.

Floors, bottom to top: the ground floor (io/, errors, cameras, labels, options, device, ...),
render, generators, semantic, factory = inversion, the API (api.py, the package __init__), cli.
eval/ (research still inside the package) sits above everything, so nothing may import it.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "dnerf_core"
PACKAGE = "dnerf_core"
FLOORS = {"render": 1, "generators": 2, "semantic": 3, "factory": 4, "inversion": 4, "api": 5, "__init__": 5,
          "cli": 6, "eval": 7}
GROUND = 0


def floor_of(parts: list[str]) -> tuple[int, str]:
    """(floor, top-level name) of a module given by its path inside the package."""
    name = parts[0].removesuffix(".py") if parts else "__init__"
    return FLOORS.get(name, GROUND), name


def _is_module(name: str) -> bool:
    return (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()


def imported_modules(tree: ast.Module, rel: tuple[str, ...]) -> list[list[str]]:
    """Every module of the package a file imports, as parts inside the package."""
    package = list(rel[:-1])  # the package the file lives in
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").split(".")[0] != PACKAGE:
                    continue
                base = node.module.split(".")[1:]
            else:
                up = node.level - 1
                if up > len(package):
                    raise ValueError(f"{'/'.join(rel)}: relative import above the package")
                base = package[:len(package) - up] + (node.module.split(".") if node.module else [])
            if base:
                out.append(base)
            else:  # `from dnerf_core import x`: a top-level module, else a name of the API (__init__)
                out += [[a.name] if _is_module(a.name) else ["__init__"] for a in node.names]
    return out


def upward_imports(files: dict[tuple[str, ...], str]) -> list[str]:
    """'a imports b (floor x > y)' for every import that runs upward; files: path parts -> source."""
    bad = []
    for rel, source in sorted(files.items()):
        mine, my_name = floor_of(list(rel))
        for target in imported_modules(ast.parse(source), rel):
            theirs, their_name = floor_of(target)
            if theirs > mine and their_name != my_name:
                bad.append(f"{'/'.join(rel)} imports {'.'.join([PACKAGE, *target])} (floor {theirs} > {mine})")
    return bad


def package_files() -> dict[tuple[str, ...], str]:
    return {p.relative_to(ROOT).parts: p.read_text() for p in sorted(ROOT.rglob("*.py"))}


def test_no_import_runs_upward():
    files = package_files()
    assert len(files) > 50  # the whole package was read
    assert upward_imports(files) == []


@pytest.mark.parametrize("rel, source, caught", [
    (("generators", "x.py"), "from ..semantic.labeled import with_semantic", True),
    (("generators", "x.py"), "from dnerf_core.factory import pointcloud", True),
    (("generators", "x.py"), "import dnerf_core.cli", True),
    (("labels.py",), "from .factory.export import ply", True),
    (("semantic", "x.py"), "def f():\n    from ..eval.splits import HELDOUT_SEED_START", True),  # lazy ones too
    (("io", "x.py"), "from .. import api", True),
    (("semantic", "x.py"), "from dnerf_core import load_generator", True),  # a name of the API
    (("semantic", "x.py"), "from ..generators.base import Subject\nfrom ..io.atomic import atomic_open", False),
    (("cli", "x.py"), "from ..factory.export_options import ExportOptions\nfrom .. import api", False),
    (("factory", "x.py"), "from ..inversion.subject_file import load_fitted", False),  # same floor
    (("generators", "procedural", "x.py"), "from ..base import Subject\nfrom ...render import raymarch", False),
])
def test_the_checker_catches_upward_imports(rel, source, caught):
    assert bool(upward_imports({rel: source})) == caught
