"""The Microsoft connector as core sees it: through the registry, built from settings without
any network call, and behind Hub's real ``/webhooks/microsoft`` route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
import respx

from connectors.microsoft.spec import SPEC
from hub.app import create_app
from hub.connectors import CalendarOperations, ChangeFeed, OAuthLinker, PushChannels, spec
from hub.db import Database
from hub.redis import connect, start_embedded
from hub.settings import Settings
from tests.connectors.microsoft.helpers import fixture, settings
from tests.support.servers import LiveServer


@pytest.fixture(scope="module")
def graph_hub(request: pytest.FixtureRequest, db: Database) -> Iterator[LiveServer]:
    """A Hub with Microsoft configured: only such a Hub has a ``/webhooks/microsoft`` intake."""
    shared: Settings = request.getfixturevalue("settings")  # the session's database and Redis
    configured = settings(
        data_dir=shared.data_dir,
        database_url=shared.database_url,
        redis_url=shared.redis_url,
        secret_keys=shared.secret_keys,
    )
    with LiveServer(create_app(configured, database=db)) as server:
        yield server


def test_the_registry_loads_the_spec() -> None:
    microsoft = spec("microsoft")
    assert microsoft is SPEC
    assert microsoft.name == "Microsoft 365 / Outlook"
    assert microsoft.capabilities == frozenset({"oauth", "calendars", "change_feed", "push"})


def test_building_makes_no_call_and_implements_every_declared_protocol() -> None:
    with respx.mock(assert_all_mocked=True) as router:
        connector = spec("microsoft").build(settings())
    assert len(router.calls) == 0  # MSAL's discovery waits for the first use
    assert isinstance(connector.oauth, OAuthLinker)
    assert isinstance(connector.calendars, CalendarOperations)
    assert isinstance(connector.feed, ChangeFeed)
    assert isinstance(connector.push, PushChannels)
    assert connector.ack_status == 202  # Graph: persist, then 202 Accepted (PROTOCOLS D)


def test_it_is_configured_only_with_a_client_id_and_secret() -> None:
    assert not SPEC.configured(Settings())
    assert not SPEC.configured(Settings(microsoft_client_id="id"))
    assert SPEC.configured(settings())


def test_with_a_redis_url_the_mailbox_limit_is_shared_through_redis(tmp_path: Path) -> None:
    url = start_embedded(tmp_path)
    connector = spec("microsoft").build(settings(redis_url=url))
    limiter = connector.feed.client.limiter
    with limiter.slot("mailbox-1"):
        assert connect(url).zcard("hub:microsoft:mailbox:mailbox-1") == 1
    assert connect(url).zcard("hub:microsoft:mailbox:mailbox-1") == 0


def test_hubs_webhook_route_answers_the_validation_request(graph_hub: LiveServer) -> None:
    request = fixture("graph_validation_request")
    url = urlsplit(request["url"])
    response = httpx.post(
        f"{graph_hub.url}/webhooks/microsoft?{url.query}",
        headers=request["headers"],
        content=request["body"],
    )
    expected = request["expected_response"]
    assert response.status_code == expected["status"]
    assert response.headers["content-type"].startswith(expected["headers"]["Content-Type"])
    assert response.text == expected["body"]


def test_hubs_webhook_route_refuses_a_body_that_is_not_a_notification(graph_hub: LiveServer) -> None:
    response = httpx.post(f"{graph_hub.url}/webhooks/microsoft", content=b"{not json")
    assert response.status_code == 400


def test_hubs_webhook_route_acknowledges_unknown_subscriptions_with_202(graph_hub: LiveServer) -> None:
    body = msgspec.json.encode(fixture("graph_notification_created"))
    response = httpx.post(
        f"{graph_hub.url}/webhooks/microsoft", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202  # nothing stored for a subscription Hub does not know
