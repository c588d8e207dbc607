"""The layout rules of README.md "Architecture": layers, small modules, documented packages."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "cli", "refresh", "events", "reports", "gh", "analysis", "infra")
ENTRY_POINTS = {"app", "clock", "worker", "scheduler", "gunicorn.conf"}
# What each root module may import from the project (packages by top-level name, modules by name).
ROOT_MAY_IMPORT = {
    "settings": set(),
    "models": {"infra", "settings"},
    "jobs": {"refresh", "events", "reports", "gh", "analysis", "models", "infra", "settings"},
    "scheduler": {"jobs", "refresh", "events", "reports", "gh", "analysis", "models", "infra", "settings"},
}
PROJECT_NAMES = set(PACKAGES) | {"app", "clock", "worker", "scheduler", "jobs", "models", "settings"}
MAX_LINES = 400


def project_modules() -> list[Path]:
    paths = [p for p in ROOT.glob("*.py")]
    for package in (*PACKAGES, "tests"):
        paths += (ROOT / package).rglob("*.py")
    return sorted(paths)


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """Return (module, names) of every absolute import in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_import_linter_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is in requirements-dev.txt"
    done = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module", sorted(ROOT_MAY_IMPORT))
def test_root_modules_import_only_below_them(module: str) -> None:
    allowed = ROOT_MAY_IMPORT[module]
    used = {name.split(".")[0] for name, _ in imported(ROOT / f"{module}.py")} & PROJECT_NAMES
    assert used <= allowed, f"{module}.py imports {sorted(used - allowed)}"


def test_root_holds_at_most_eight_modules() -> None:
    names = {p.name.removesuffix(".py") for p in ROOT.glob("*.py")}
    assert names <= ENTRY_POINTS | {"jobs", "models", "settings"}
    assert len(names) <= 8


@pytest.mark.parametrize("package", [*PACKAGES, "cli"])
def test_every_package_says_what_it_owns_and_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    assert doc and "May import" in doc


def test_no_module_over_400_lines() -> None:
    lengths = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in project_modules()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_no_reexports_and_no_private_imports_across_packages() -> None:
    problems = []
    for path in project_modules():
        if "__all__" in {t.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Assign)
                         for t in n.targets if isinstance(t, ast.Name)}:  # fmt: skip
            problems.append(f"{path.name} re-exports through __all__")
        home = path.relative_to(ROOT).parts[0]
        for module, names in imported(path):
            top = module.split(".")[0]
            if top not in PROJECT_NAMES or top == home:
                continue
            private = [n for n in names if n.startswith("_")] + [p for p in module.split(".") if p.startswith("_")]
            if private:
                problems.append(f"{path.relative_to(ROOT)} imports private {module}: {private}")
    assert problems == []
