"""Push channels (PROTOCOLS.md A): watch, renew, stop, and parsing Google's notification headers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import respx

from connectors.google.push import GooglePush
from connectors.google.spec import build
from hub.connectors import ChannelInfo, Connector, Notification, ProviderCalendar, WebhookAnswer
from hub.errors import PermanentError, TransientError
from tests.connectors.google.helpers import API, fixture, respond, settings
from tests.connectors.shared_suite.harness import MemoryStore

CALENDAR = ProviderCalendar("primary", "alice@example.com", primary=True, timezone="Europe/Berlin")
WATCH_URL = f"{API}/calendars/primary/events/watch"
STOP_URL = f"{API}/channels/stop"
WATCH = fixture("google_watch_request")
EXPIRES = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # 1773050400000 ms, the fixtures' expiration
OLD = ChannelInfo(channel_id=WATCH["id"], resource_id="o3hgv1538sdjfh", expires_at=EXPIRES)


def subscribe(connector: Connector, store: MemoryStore) -> ChannelInfo:
    return connector.push.subscribe(
        store, CALENDAR, channel_id=WATCH["id"], secret=WATCH["token"], address=WATCH["address"]
    )


@pytest.mark.parametrize("answer", ["google_watch_response", "google_watch_response_int64_string"])
def test_a_watch_opens_a_channel_whatever_form_the_expiration_takes(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, answer: str
) -> None:
    watch = google.post(WATCH_URL, name="watch").mock(return_value=respond(answer))
    channel = subscribe(connector, store)
    assert channel == ChannelInfo(channel_id=WATCH["id"], resource_id="o3hgv1538sdjfh", expires_at=EXPIRES)
    sent = json.loads(watch.calls.last.request.content)
    # The documented request, without an expiration: Google's own limit decides and is read back.
    assert sent == {key: value for key, value in WATCH.items() if key != "expiration"}


def test_a_lifetime_can_be_asked_for(google: respx.MockRouter, store: MemoryStore) -> None:
    push = GooglePush(build(settings()).push.client, ttl_seconds=86400)
    watch = google.post(WATCH_URL, name="watch").mock(return_value=respond("google_watch_response"))
    push.subscribe(store, CALENDAR, channel_id=WATCH["id"], secret=WATCH["token"], address=WATCH["address"])
    assert json.loads(watch.calls.last.request.content)["params"] == {"ttl": "86400"}


def test_channel_ids_and_tokens_respect_googles_limits(connector: Connector, store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="64"):
        connector.push.subscribe(store, CALENDAR, channel_id="c" * 65, secret="s", address=WATCH["address"])
    with pytest.raises(ValueError, match="256"):
        connector.push.subscribe(store, CALENDAR, channel_id="c", secret="s" * 257, address=WATCH["address"])


def test_google_pushes_only_to_https(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    with pytest.raises(PermanentError) as raised:
        connector.push.subscribe(
            store, CALENDAR, channel_id="c", secret="s", address="http://127.0.0.1:8000/webhooks/google"
        )
    assert raised.value.code == "push_address_not_https"
    assert not google.calls


def test_stopping_a_channel_sends_the_documented_body(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    stop = google.post(STOP_URL, name="stop").mock(return_value=httpx.Response(204))
    connector.push.stop(store, OLD)
    assert json.loads(stop.calls.last.request.content) == fixture("google_channels_stop_request")


def test_stopping_an_unknown_channel_is_fine(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    stop = google.post(STOP_URL, name="stop").mock(
        return_value=httpx.Response(404, json={"error": {"errors": [{"reason": "notFound"}], "code": 404}})
    )
    connector.push.stop(store, OLD)
    assert stop.call_count == 1


def test_renewing_opens_a_new_channel_and_then_stops_the_old_one(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    def watch_answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        return httpx.Response(200, json={**fixture("google_watch_response"), "id": sent["id"], "resourceId": "n3w"})

    watch = google.post(WATCH_URL, name="watch").mock(side_effect=watch_answer)
    stop = google.post(STOP_URL, name="stop").mock(return_value=httpx.Response(204))

    fresh = connector.push.renew(store, OLD, CALENDAR, secret=WATCH["token"], address=WATCH["address"])

    assert fresh.channel_id != OLD.channel_id
    assert uuid.UUID(fresh.channel_id)  # a new UUID, as Google recommends
    assert fresh.resource_id == "n3w"
    sent = json.loads(watch.calls.last.request.content)
    assert (sent["id"], sent["token"], sent["address"]) == (fresh.channel_id, WATCH["token"], WATCH["address"])
    assert json.loads(stop.calls.last.request.content) == {"id": OLD.channel_id, "resourceId": OLD.resource_id}
    assert google.calls[0].request.url.path.endswith("/watch")  # the new channel first: no gap


def test_a_failed_stop_does_not_lose_the_new_channel(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.post(WATCH_URL, name="watch").mock(return_value=respond("google_watch_response"))
    google.post(STOP_URL, name="stop").mock(return_value=respond("google_error_503_backend_error", 503))
    fresh = connector.push.renew(store, OLD, CALENDAR, secret=WATCH["token"], address=WATCH["address"])
    assert fresh.resource_id == "o3hgv1538sdjfh"


def test_a_failed_watch_keeps_the_old_channel(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.post(WATCH_URL, name="watch").mock(return_value=respond("google_error_503_backend_error", 503))
    stop = google.post(STOP_URL, name="stop")
    with pytest.raises(TransientError):
        connector.push.renew(store, OLD, CALENDAR, secret=WATCH["token"], address=WATCH["address"])
    assert not stop.called


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize(
    ("name", "kind", "number"),
    [
        ("google_push_headers_exists", "change", "286735"),
        ("google_push_headers_not_exists", "change", "286790"),
        ("google_push_headers_sync", "sync", "1"),
    ],
)
def test_notification_headers_are_parsed(connector: Connector, name: str, kind: str, number: str) -> None:
    message = fixture(name)
    (notification,) = connector.push.parse(lower(message["headers"]), {}, message["body"].encode())
    assert notification == Notification(
        channel_id="01234567-89ab-cdef-0123-456789abcdef",
        secret="tenant=acme&conn=conn_123",
        dedup_key=f"google:01234567-89ab-cdef-0123-456789abcdef:{number}",
        kind=kind,
        detail={
            "resource_id": "o3hgv1538sdjfh",
            "resource_state": message["headers"]["X-Goog-Resource-State"],
            "resource_uri": "https://www.googleapis.com/calendar/v3/calendars/primary/events",
            "message_number": int(number),
            "channel_expiration": "Mon, 09 Mar 2026 10:00:00 GMT",
        },
    )
    assert connector.ack_status in message["expected_response_status_any_of"]


def test_the_guides_example_is_parsed_with_its_header_names_as_sent(connector: Connector) -> None:
    message = fixture("google_push_headers_doc_example")
    (notification,) = connector.push.parse(message["headers"], {}, b"")
    assert notification.channel_id == "4ba78bf0-6a47-11e2-bcfd-0800200c9a66"
    assert notification.secret == "398348u3tu83ut8uu38"
    assert notification.dedup_key == "google:4ba78bf0-6a47-11e2-bcfd-0800200c9a66:10"
    assert notification.kind == "change"


def test_the_body_is_never_parsed(connector: Connector) -> None:
    message = fixture("google_push_headers_exists")
    (notification,) = connector.push.parse(lower(message["headers"]), {}, b"not json {")
    assert notification.kind == "change"


def test_a_notification_without_a_token_has_an_empty_secret(connector: Connector) -> None:
    headers = {k: v for k, v in lower(fixture("google_push_headers_exists")["headers"]).items() if "token" not in k}
    (notification,) = connector.push.parse(headers, {}, b"")
    assert notification.secret == ""  # never equal to a stored secret


@pytest.mark.parametrize("dropped", ["x-goog-channel-id", "x-goog-resource-state", "x-goog-message-number"])
def test_a_request_without_googles_headers_is_answered_400(connector: Connector, dropped: str) -> None:
    headers = {k: v for k, v in lower(fixture("google_push_headers_exists")["headers"]).items() if k != dropped}
    answer = connector.push.parse(headers, {}, b"")
    assert isinstance(answer, WebhookAnswer)
    assert answer.status == 400
    assert "not a Google Calendar push notification" in answer.body


def test_a_message_number_that_is_not_a_number_is_answered_400(connector: Connector) -> None:
    headers = {**lower(fixture("google_push_headers_exists")["headers"]), "x-goog-message-number": "1; drop"}
    answer = connector.push.parse(headers, {}, b"")
    assert isinstance(answer, WebhookAnswer)
    assert answer.status == 400
