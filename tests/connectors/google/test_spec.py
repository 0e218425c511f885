"""The Google connector as core sees it: through the registry."""

from __future__ import annotations

from hub.connectors import CalendarOperations, ChangeFeed, OAuthLinker, PushChannels, spec
from hub.settings import Settings
from tests.connectors.google.helpers import settings


def test_the_registry_loads_the_google_spec_and_builds_every_part() -> None:
    google = spec("google")
    assert google.name == "Google Calendar"
    assert google.capabilities == {"oauth", "calendars", "change_feed", "push"}
    assert google.consumers == ()
    connector = google.build(settings())
    assert isinstance(connector.oauth, OAuthLinker)
    assert isinstance(connector.calendars, CalendarOperations)
    assert isinstance(connector.feed, ChangeFeed)
    assert isinstance(connector.push, PushChannels)
    assert connector.ack_status == 200


def test_google_is_configured_only_with_a_client_id_and_secret() -> None:
    assert spec("google").configured(settings())
    assert not spec("google").configured(Settings(google_client_id="id-only"))
