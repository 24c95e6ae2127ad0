"""The package's layers only look down: no module imports one on a higher floor.

Floors, bottom to top: the ground floor (io/, errors, cameras, labels, options, device, ...),
render, generators, semantic, factory = inversion, the API (api/, the package __init__, lab.py), cli.
eval/ (research still inside the package) sits above everything, so nothing may import it.

Outside the package, research/ and scripts/ are its users: they import `dnerf_core` (the product
API) and `dnerf_core.lab` (the measurement surface) only, so the package's insides can move.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "dnerf_core"
PACKAGE = "dnerf_core"
FLOORS = {"render": 1, "generators": 2, "semantic": 3, "factory": 4, "inversion": 4, "api": 5, "__init__": 5, "lab": 5,
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


REPO = ROOT.parent
USER_FACING = ("dnerf_core", "dnerf_core.lab")
# scripts/bench.py times private fitting steps (fast path vs its slow twin) that no surface exposes
PRIVATE_ALLOWED = {("scripts/bench.py", "dnerf_core.inversion")}


def private_imports(rel: str, source: str) -> list[str]:
    """'file: module' for every import of a dnerf_core module other than the two surfaces."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            if module.split(".")[0] == PACKAGE and module not in USER_FACING and (rel, module) not in PRIVATE_ALLOWED:
                bad.append(f"{rel}: {module}")
    return bad


def test_research_and_scripts_use_only_the_api_and_the_lab():
    files = {str(p.relative_to(REPO)): p.read_text()
             for folder in ("research", "scripts") for p in sorted((REPO / folder).rglob("*.py"))}
    assert len(files) > 20  # both folders were read
    assert [b for rel, source in files.items() for b in private_imports(rel, source)] == []


@pytest.mark.parametrize("source, caught", [
    ("from dnerf_core.io.metrics import psnr", True),
    ("def f():\n    import dnerf_core.cameras", True),
    ("from dnerf_core import load_generator\nfrom dnerf_core.lab import psnr\nimport dnerf_core as dn", False),
])
def test_the_checker_catches_private_imports(source, caught):
    assert bool(private_imports("research/x.py", source)) == caught


def test_every_lab_name_resolves():
    import dnerf_core
    import dnerf_core.lab as lab

    assert not set(lab.__all__) & set(dnerf_core.__all__)  # a lab name never shadows a product name
    for name in lab.__all__:
        assert getattr(lab, name) is not None, name
