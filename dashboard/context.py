"""What the dashboard's handlers share: the settings, the signer, the metrics sampler."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.metrics import Sampler
from dashboard.signing import Signer
from hub.settings import Settings


@dataclass(frozen=True)
class DashboardContext:
    settings: Settings
    signer: Signer
    sampler: Sampler

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` when Hub's public URL is https."""
        return self.settings.public_url.startswith("https://")
