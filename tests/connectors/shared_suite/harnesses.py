"""Every calendar connector's contract harness. Add yours here (see ``harness.py``)."""

from __future__ import annotations

from tests.connectors.caldav.harness import CalDavHarness
from tests.connectors.google.harness import GoogleHarness
from tests.connectors.microsoft.harness import MicrosoftHarness
from tests.connectors.shared_suite.harness import Harness

HARNESSES: list[Harness] = [
    GoogleHarness(),
    MicrosoftHarness(),
    CalDavHarness(),
]
