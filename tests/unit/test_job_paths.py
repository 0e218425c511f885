"""Every job path Hub names resolves to a job function registered by ``@hub_job``.

RQ stores a job as an import path and imports it only when a worker runs it, so a wrong path
(a renamed function, a typo, a function without ``@hub_job``) would fail only then. The paths
come from the cron schedule, the outbox consumers (core and every connector spec) and every
string in the source that names a function of one of Hub's modules (the enqueue helpers'
constants, the relay's dispatch job, the deliveries' retry job, ...).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from hub.connectors import specs
from hub.jobs.cron import SCHEDULE
from hub.jobs.dispatch import CORE_CONSUMERS
from hub.jobs.registry import JOBS, path_of, resolve

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "connectors", "dashboard")
DOTTED = re.compile(r"^(?:hub|connectors|dashboard)(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _modules() -> dict[str, bool]:
    """Module name -> whether it is a package, for every module of Hub's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = is_package
    return found


def _paths_in_source(modules: dict[str, bool]) -> set[str]:
    """String constants of the form ``<module>.<name>`` where ``<module>`` is one of Hub's
    (non-package) modules: how Hub names a function by path."""
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.match(node.value):
                    module = node.value.rpartition(".")[0]
                    if modules.get(module) is False:
                        found.add(node.value)
    return found


def _named_paths() -> set[str]:
    modules = _modules()
    for name in modules:
        importlib.import_module(name)  # every @hub_job registers as its module loads
    paths = {f if isinstance(f, str) else path_of(f) for f, _, _ in SCHEDULE}
    paths |= {consumer.function for _, consumer in CORE_CONSUMERS}
    paths |= {consumer.function for spec in specs() for consumer in spec.consumers}
    return paths | _paths_in_source(modules)


def test_every_job_path_hub_names_is_a_registered_job() -> None:
    paths = _named_paths()
    unresolved = {}
    for path in sorted(paths):
        try:
            resolve(path)
        except LookupError as exc:
            unresolved[path] = str(exc)
    assert not unresolved, unresolved
    # The scan sees the paths it must (so it cannot pass by finding nothing).
    assert {
        "hub.connections.jobs.sync_calendar",
        "hub.connections.jobs.process_notification",
        "hub.jobs.dispatch.dispatch",
        "hub.deliveries.jobs.deliver",
        "hub.deliveries.jobs.fan_out",
        "hub.connections.jobs.sweep_quiet_calendars",
        "hub.notifications.jobs.send_booking_emails",
    } <= paths


def test_every_registered_job_is_named_somewhere() -> None:
    paths = _named_paths()
    hubs_own = {p for p in JOBS if p.split(".", 1)[0] in PACKAGES}
    assert hubs_own - paths == set()


def test_a_path_that_names_no_job_does_not_resolve() -> None:
    with pytest.raises(LookupError, match="not a registered job"):
        resolve("hub.jobs.registry.path_of")  # a function, but no job
    with pytest.raises(LookupError, match="no importable function"):
        resolve("hub.connections.jobs.sync_calendars")
    with pytest.raises(LookupError, match="no importable function"):
        resolve("hub.nowhere.job")
