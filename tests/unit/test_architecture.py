"""The package structure of docs/architecture.md, read from the source: packages import one
way down the layers, nothing private crosses a package, every package declares `__all__`, the
kernels import nothing but numpy, numba (and its llvmlite) and other kernels."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "gridbt"
#: Lowest first: a package may import only packages before it (docs/architecture.md).
LAYERS = ("data", "kernel", "strategy", "entries", "runtime", "sweep", "optimize", "results",
          "report", "tracking", "workflows", "api")
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())
# llvmlite: numba's own IR builder, for the code generation of kernel/lowlevel_nb.py
KERNEL_MODULES = ("numpy", "numba", "llvmlite", "math", "gridbt.kernel",
                  "gridbt.data.blackscholes_nb")


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every absolute import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((a.name, [], node.lineno) for a in node.names)
    return found


def _package_imports(package: str) -> list[tuple[str, str, list[str], str]]:
    """(other package, module, names, where) for imports of other gridbt packages."""
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module, names, line in _imports(path):
            parts = module.split(".")
            if parts[0] == "gridbt" and len(parts) > 1 and parts[1] in PACKAGES \
                    and parts[1] != package:
                out.append((parts[1], module, names, f"{path.relative_to(ROOT)}:{line}"))
    return out


def test_every_package_has_a_layer_or_is_the_test_fixtures() -> None:
    assert set(PACKAGES) == {*LAYERS, "testing"}


@pytest.mark.parametrize("package", LAYERS)
def test_packages_import_only_lower_layers(package: str) -> None:
    below = set(LAYERS[: LAYERS.index(package)])
    wrong = [f"{where}: {module}" for other, module, _, where in _package_imports(package)
             if other not in below]
    assert wrong == [], f"{package} may import only {sorted(below)}"


def test_only_tests_use_the_test_fixtures() -> None:
    users = [where for package in LAYERS for other, _, _, where in _package_imports(package)
             if other == "testing"]
    assert users == []
    assert {other for other, *_ in _package_imports("testing")} <= {"data", "kernel", "strategy"}


@pytest.mark.parametrize("package", PACKAGES)
def test_nothing_private_crosses_a_package(package: str) -> None:
    private = [f"{where}: {module} {names}" for _, module, names, where in
               _package_imports(package)
               if any(p.startswith("_") for p in module.split(".")[1:])
               or any(n.startswith("_") for n in names)]
    assert private == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_its_public_surface(package: str) -> None:
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    declared = [node for node in tree.body if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)]
    assert declared, f"gridbt/{package}/__init__.py has no __all__"
    names = ast.literal_eval(declared[0].value)
    for name in names:  # a listed module exists, or the name is bound in __init__
        bound = any(isinstance(n, ast.ImportFrom) and name in [a.name for a in n.names]
                    or isinstance(n, ast.Assign) and name in [getattr(t, "id", "")
                                                              for t in n.targets]
                    for n in tree.body)
        assert bound or (ROOT / package / f"{name}.py").is_file(), f"{package}.{name}"


def test_the_kernel_takes_arrays_and_imports_no_model_or_service() -> None:
    heavy = ("pydantic", "ray", "mlflow", "optuna", "pandas", "gridbt.strategy")
    wrong = [f"{path.name}: {module}" for path in sorted((ROOT / "kernel").glob("*.py"))
             for module, _, _ in _imports(path) if module.startswith(heavy)]
    assert wrong == []


@pytest.mark.parametrize("package", ["kernel", "entries"])
def test_numba_kernels_import_only_numpy_numba_and_other_kernels(package: str) -> None:
    wrong = [f"{path.name}: {module}" for path in sorted((ROOT / package).glob("*nb.py"))
             for module, _, _ in _imports(path)
             if module != "__future__" and not module.startswith(KERNEL_MODULES)]
    assert wrong == []
