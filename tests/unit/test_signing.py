"""Standard Webhooks signatures: the spec's test vectors and the reference verifier."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from hub.deliveries import signing

VECTORS: list[dict[str, Any]] = json.loads(
    (Path("/work/shared/providers/standard_webhooks_vector.json")).read_text()
)["vectors"] if Path("/work/shared/providers/standard_webhooks_vector.json").exists() else []


def test_official_vector() -> None:
    signature = signing.sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
