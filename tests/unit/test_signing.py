"""Standard Webhooks signatures: the spec's test vectors and the reference verifier."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from hub.deliveries import signing

HUB_SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
HUB_MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
HUB_PAYLOAD = (
    b'{"type":"calendar.event.updated","timestamp":"2026-03-02T10:15:31.105Z",'
    b'"data":{"id":"evt_5f0p3s1nq2r7","provider":"google","calendar_id":"primary"}}'
)


@pytest.mark.parametrize(
    ("secret", "msg_id", "timestamp", "body", "expected"),
    [
        pytest.param(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            id="official",
        ),
        pytest.param(
            HUB_SECRET,
            HUB_MSG_ID,
            1772446531,
            HUB_PAYLOAD,
            "v1,wMqiuJVQKeNX07Wr3AbzcLXaOKN3UBMWg+VBojADmL0=",
            id="hub-example",
        ),
    ],
)
def test_signature_matches_the_spec_vectors(
    secret: str, msg_id: str, timestamp: int, body: bytes, expected: str
) -> None:
    assert signing.sign(secret, msg_id, timestamp, body) == expected
    assert signing.headers(secret, msg_id, timestamp, body) == {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": expected,
    }


def test_unprefixed_and_unpadded_secrets_sign_alike() -> None:
    prefixed = signing.sign(HUB_SECRET, HUB_MSG_ID, 1, b"{}")
    assert signing.sign(HUB_SECRET.removeprefix("whsec_"), HUB_MSG_ID, 1, b"{}") == prefixed
    assert signing.sign(HUB_SECRET.rstrip("="), HUB_MSG_ID, 1, b"{}") == prefixed


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!"])
def test_unusable_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        signing.sign(secret, HUB_MSG_ID, 1, b"{}")


def test_generated_secrets_are_32_random_bytes_behind_the_prefix() -> None:
    secrets = {signing.generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_the_reference_library_verifies_what_hub_signs() -> None:
    secret = signing.generate_secret()
    body = b'{"type":"booking.created","timestamp":"2030-12-02T09:00:00Z","data":{"id":"bkg_1","note":"\xc3\xa9"}}'
    headers = signing.headers(secret, "whd_01", int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["data"]["note"] == "é"


def test_the_reference_library_rejects_a_tampered_body_or_another_secret() -> None:
    secret = signing.generate_secret()
    body = b'{"type":"booking.created"}'
    headers = signing.headers(secret, "whd_01", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"type":"booking.cancelled"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(body, headers)


def test_a_rotated_signature_list_still_verifies() -> None:
    """Receivers accept a space-separated list where any ``v1`` entry matches (key rotation)."""
    timestamp = int(time.time())
    old = signing.sign(signing.generate_secret(), HUB_MSG_ID, timestamp, HUB_PAYLOAD)
    new = signing.sign(HUB_SECRET, HUB_MSG_ID, timestamp, HUB_PAYLOAD)
    headers = {"webhook-id": HUB_MSG_ID, "webhook-timestamp": str(timestamp), "webhook-signature": f"{old} {new}"}
    assert Webhook(HUB_SECRET).verify(HUB_PAYLOAD, headers)["type"] == "calendar.event.updated"
