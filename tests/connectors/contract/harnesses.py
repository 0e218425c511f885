"""Every calendar connector's contract harness. Add yours here (see ``harness.py``)."""

from __future__ import annotations

from tests.connectors.contract.harness import Harness
from tests.connectors.google.harness import GoogleHarness
from tests.connectors.microsoft.harness import MicrosoftHarness

HARNESSES: list[Harness] = [
    GoogleHarness(),
    MicrosoftHarness(),
]
