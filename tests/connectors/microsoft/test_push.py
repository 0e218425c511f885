"""Graph subscriptions and webhook parsing (PROTOCOLS D): create / renew / delete, the
validationToken handshake, change notifications, lifecycle events, dedup keys, bad bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import respx

from connectors.microsoft.push import MicrosoftPush
from connectors.microsoft.spec import build
from hub.connectors import ChannelInfo, Connector, Notification, ProviderCalendar, WebhookAnswer
from hub.errors import PermanentError
from tests.connectors.microsoft.helpers import (
    CALENDAR_ID,
    CLIENT_STATE,
    GRAPH,
    SUBSCRIPTION_ID,
    fixture,
    fixture_bytes,
    respond,
    settings,
)
from tests.connectors.shared_suite.harness import MemoryStore

CALENDAR = ProviderCalendar(CALENDAR_ID, "Calendar", primary=True)
REQUEST = fixture("graph_subscription_create_request")
ADDRESS = REQUEST["notificationUrl"]
CREATED_AT = datetime(2026, 3, 2, 10, tzinfo=UTC)  # + 4,200 minutes = the fixture's expiry
RENEWED_AT = datetime(2026, 3, 5, 8, tzinfo=UTC)  # + 4,200 minutes = graph_subscription_renew_request.json


def push_at(moment: datetime, sleeps: list[float]) -> MicrosoftPush:
    return MicrosoftPush(build(settings(), sleep=sleeps.append).push.client, clock=lambda: moment)


def subscription(**changes: str) -> dict[str, object]:
    return {**fixture("graph_subscription_create_response"), **changes}


# --- subscriptions ---------------------------------------------------------------------------------


def test_subscribing_posts_the_documented_request(
    microsoft: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    route = microsoft.post(f"{GRAPH}/subscriptions").mock(
        return_value=respond("graph_subscription_create_response", 201)
    )

    info = push_at(CREATED_AT, sleeps).subscribe(
        store, CALENDAR, channel_id="hub-proposed-id", secret=CLIENT_STATE, address=ADDRESS
    )

    # graph_subscription_create_request.json, except that both URLs are Hub's one webhook address
    assert json.loads(route.calls.last.request.content) == {**REQUEST, "lifecycleNotificationUrl": ADDRESS}
    assert info == ChannelInfo(SUBSCRIPTION_ID, "/me/events", datetime(2026, 3, 5, 8, tzinfo=UTC))


def test_the_default_lifetime_is_valid_under_both_documented_maximums() -> None:
    lifetime = MicrosoftPush.__init__.__kwdefaults__["expiry_minutes"]  # type: ignore[index]
    assert 45 <= lifetime < 4230 < 10080


def test_a_client_state_longer_than_128_characters_is_refused_before_any_call(
    microsoft: respx.MockRouter, store: MemoryStore, connector: Connector
) -> None:
    route = microsoft.post(f"{GRAPH}/subscriptions")
    with pytest.raises(PermanentError):
        connector.push.subscribe(store, CALENDAR, channel_id="c", secret="x" * 129, address=ADDRESS)
    assert not route.called


def test_renewing_patches_the_expiry(microsoft: respx.MockRouter, store: MemoryStore, sleeps: list[float]) -> None:
    route = microsoft.patch(f"{GRAPH}/subscriptions/{SUBSCRIPTION_ID}").respond(
        200, json=subscription(expirationDateTime="2026-03-08T06:00:00Z")
    )
    old = ChannelInfo(SUBSCRIPTION_ID, "/me/events", datetime(2026, 3, 5, 8, tzinfo=UTC))

    info = push_at(RENEWED_AT, sleeps).renew(store, old, CALENDAR, secret="unused", address=ADDRESS)

    assert json.loads(route.calls.last.request.content) == fixture("graph_subscription_renew_request")
    assert info == ChannelInfo(SUBSCRIPTION_ID, "/me/events", datetime(2026, 3, 8, 6, tzinfo=UTC))


def test_renewing_a_subscription_graph_removed_creates_a_new_one(
    microsoft: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    gone = {"error": {"code": "ResourceNotFound", "message": "The object was not found."}}
    microsoft.patch(f"{GRAPH}/subscriptions/{SUBSCRIPTION_ID}").respond(404, json=gone)
    created = microsoft.post(f"{GRAPH}/subscriptions").respond(201, json=subscription(id="new-subscription-id"))
    old = ChannelInfo(SUBSCRIPTION_ID, "/me/events", datetime(2026, 3, 5, 8, tzinfo=UTC))

    info = push_at(RENEWED_AT, sleeps).renew(store, old, CALENDAR, secret="new-client-state", address=ADDRESS)

    assert info.channel_id == "new-subscription-id"
    assert json.loads(created.calls.last.request.content)["clientState"] == "new-client-state"


def test_stopping_deletes_and_an_unknown_subscription_is_fine(
    microsoft: respx.MockRouter, store: MemoryStore, connector: Connector
) -> None:
    route = microsoft.delete(f"{GRAPH}/subscriptions/{SUBSCRIPTION_ID}").mock(
        side_effect=[httpx.Response(204), httpx.Response(404, json={"error": {"code": "ResourceNotFound"}})]
    )
    channel = ChannelInfo(SUBSCRIPTION_ID, "/me/events", datetime(2026, 3, 5, 8, tzinfo=UTC))
    connector.push.stop(store, channel)
    connector.push.stop(store, channel)
    assert route.call_count == 2


# --- parsing what Graph POSTs --------------------------------------------------------------------


def parse(connector: Connector, body: bytes, query: dict[str, str] | None = None) -> WebhookAnswer | list[Notification]:
    return connector.push.parse({"content-type": "application/json"}, query or {}, body)


def test_the_validation_request_is_answered_with_the_decoded_token(connector: Connector) -> None:
    request = fixture("graph_validation_request")
    query = dict(parse_qsl(urlsplit(request["url"]).query))  # as the web framework decodes it
    headers = {name.lower(): value for name, value in request["headers"].items()}

    answer = connector.push.parse(headers, query, request["body"].encode())

    expected = request["expected_response"]
    assert answer == WebhookAnswer(status=expected["status"], body=expected["body"], media_type="text/plain")


def test_the_handshake_comes_before_any_json_parsing(connector: Connector) -> None:
    answer = parse(connector, b"{not json", {"validationToken": "token <with> & chars"})
    assert answer == WebhookAnswer(200, "token <with> & chars", "text/plain")


def test_a_validation_token_is_echoed_up_to_1024_characters_and_refused_beyond(connector: Connector) -> None:
    assert parse(connector, b"", {"validationToken": "é" * 1024}) == WebhookAnswer(200, "é" * 1024, "text/plain")
    refused = parse(connector, b"", {"validationToken": "x" * 1025})
    assert refused == WebhookAnswer(400, "validationToken is longer than 1024 characters", "text/plain")


@pytest.mark.parametrize(
    ("name", "change", "event_id"),
    [
        ("graph_notification_created", "created", "AAMkAGI2THVSAAA="),
        ("graph_notification_updated", "updated", "AAMkAGI2THVSAAA="),
        ("graph_notification_deleted", "deleted", "AAMkAGI2THVTAAA="),
    ],
)
def test_change_notifications(connector: Connector, name: str, change: str, event_id: str) -> None:
    (item,) = parse(connector, fixture_bytes(name))  # type: ignore[misc]
    etag = fixture(name)["value"][0]["resourceData"].get("@odata.etag", "")
    assert item == Notification(
        channel_id=SUBSCRIPTION_ID,
        secret=CLIENT_STATE,
        dedup_key=f"microsoft:{SUBSCRIPTION_ID}:{change}:{event_id}:{etag}",
        kind="change",
        detail={
            "tenant_id": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "subscription_expires_at": "2026-03-05T08:00:00+00:00",
            "change_type": change,
            "resource": f"Users/8ee44408-0679-472c-bc2a-692812af3437/Events/{event_id}",
            "event_id": event_id,
        },
    )


def test_a_batch_becomes_one_notification_each_with_distinct_keys(connector: Connector) -> None:
    items = parse(connector, fixture_bytes("graph_notification_batch"))
    assert isinstance(items, list)
    assert [(n.kind, n.detail["change_type"]) for n in items] == [
        ("change", "created"),
        ("change", "updated"),
        ("change", "deleted"),
    ]
    assert len({n.dedup_key for n in items}) == 3


def test_a_redelivery_collapses_and_a_later_change_does_not(connector: Connector) -> None:
    (first,) = parse(connector, fixture_bytes("graph_notification_updated"))  # type: ignore[misc]
    (again,) = parse(connector, fixture_bytes("graph_notification_updated"))  # type: ignore[misc]
    later_body = fixture("graph_notification_updated")
    later_body["value"][0]["resourceData"]["@odata.etag"] = 'W/"DwAAABYAAABGEhN7U6gBQ7xrSD+4eIMsAAAFaIQ1"'
    (later,) = parse(connector, json.dumps(later_body).encode())  # type: ignore[misc]
    assert first.dedup_key == again.dedup_key
    assert later.dedup_key != first.dedup_key


def test_a_forged_client_state_is_exposed_for_core_to_reject(connector: Connector) -> None:
    (item,) = parse(connector, fixture_bytes("graph_notification_bad_client_state"))  # type: ignore[misc]
    assert item.secret == "forged-client-state"
    assert item.channel_id == SUBSCRIPTION_ID


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("graph_lifecycle_reauthorization", "reauthorizationRequired"),
        ("graph_lifecycle_subscription_removed", "subscriptionRemoved"),
        ("graph_lifecycle_missed", "missed"),
    ],
)
def test_lifecycle_notifications(connector: Connector, name: str, kind: str) -> None:
    (item,) = parse(connector, fixture_bytes(name))  # type: ignore[misc]
    assert item.kind == kind
    assert item.channel_id == SUBSCRIPTION_ID
    assert item.secret == CLIENT_STATE
    assert item.dedup_key == f"microsoft:{SUBSCRIPTION_ID}:lifecycle:{kind}:2026-03-05T08:00:00.0000000Z"


def test_a_lifecycle_event_after_renewal_is_not_taken_for_a_duplicate(connector: Connector) -> None:
    body = fixture("graph_lifecycle_reauthorization")
    (before,) = parse(connector, json.dumps(body).encode())  # type: ignore[misc]
    body["value"][0]["subscriptionExpirationDateTime"] = "2026-03-08T06:00:00.0000000Z"
    (after,) = parse(connector, json.dumps(body).encode())  # type: ignore[misc]
    assert before.dedup_key != after.dedup_key


def test_the_documented_message_example_parses_too(connector: Connector) -> None:
    (item,) = parse(connector, fixture_bytes("graph_notification_doc_example_message"))  # type: ignore[misc]
    assert item.kind == "change"
    assert item.secret == "secretClientValue"


@pytest.mark.parametrize("body", [b"", b"{not json", b"[]", b'{"value": "x"}', b'{"other": []}'])
def test_a_body_that_is_not_a_notification_collection_is_a_400(connector: Connector, body: bytes) -> None:
    answer = parse(connector, body)
    assert isinstance(answer, WebhookAnswer)
    assert answer.status == 400


def test_very_long_ids_still_give_a_bounded_deterministic_key(connector: Connector) -> None:
    body = fixture("graph_notification_created")
    body["value"][0]["resourceData"]["id"] = "A" * 600
    (first,) = parse(connector, json.dumps(body).encode())  # type: ignore[misc]
    (again,) = parse(connector, json.dumps(body).encode())  # type: ignore[misc]
    assert len(first.dedup_key) <= 512
    assert first.dedup_key == again.dedup_key
