"""The layers stay clean: ``prism/`` is the plain library and never reaches the Dagster wiring."""

import ast
import subprocess
import sys
from pathlib import Path

import prism

PRISM = Path(prism.__file__).parent
FORBIDDEN = ("dagster", "dagster_aws", "dagster_postgres", "prism_assets", "resources")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_of_prism_imports_the_wiring():
    offenders = {}
    files = sorted(PRISM.rglob("*.py"))
    assert len(files) > 40  # the whole library, not an empty glob
    for path in files:
        bad = sorted(m for m in _imported_modules(path) if m.split(".")[0] in FORBIDDEN)
        if bad:
            offenders[str(path.relative_to(PRISM.parent))] = bad
    assert offenders == {}


def test_importing_every_prism_module_loads_no_dagster():
    # The static check misses dynamic imports; this one imports every module and looks.
    modules = sorted(".".join(p.relative_to(PRISM.parent).with_suffix("").parts).removesuffix(".__init__")
                     for p in PRISM.rglob("*.py"))
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]", out.stdout
