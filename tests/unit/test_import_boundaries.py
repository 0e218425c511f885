"""The boundary between core and the connectors, read from the source: ``hub`` imports no
module inside ``connectors/`` (it loads them by path through ``hub.connectors``' registry), and
the dashboard sends email through core, never through the email connector."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``path`` names, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offenders(package: str, forbidden: str) -> dict[str, list[str]]:
    result = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = sorted(m for m in imported_modules(path) if m == forbidden or m.startswith(f"{forbidden}."))
        if bad:
            result[str(path.relative_to(ROOT))] = bad
    return result


def test_the_walk_sees_imports_at_any_depth(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("import os\n\ndef f():\n    from connectors.email import notifier\n    import connectors\n")
    assert imported_modules(source) >= {"os", "connectors.email", "connectors.email.notifier", "connectors"}


def test_core_imports_no_connector_module() -> None:
    assert list((ROOT / "hub").rglob("*.py")), "the walk found no core modules"
    assert offenders("hub", "connectors") == {}


def test_the_dashboard_does_not_import_the_email_connector() -> None:
    assert list((ROOT / "dashboard").rglob("*.py")), "the walk found no dashboard modules"
    assert offenders("dashboard", "connectors.email") == {}
