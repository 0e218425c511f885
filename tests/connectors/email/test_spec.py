"""The email connector as core sees it: through the registry, the outbox dispatch and the
``notifier`` part its spec builds."""

from __future__ import annotations

import importlib

from hub.connectors import Notifier, spec
from hub.jobs.dispatch import consumers_for
from hub.settings import Settings


def test_registry_loads_the_spec_and_dispatch_routes_booking_events_to_it() -> None:
    email = spec("email")
    assert email.slug == "email"
    assert email.capabilities == frozenset({"notifier"})
    (consumer,) = email.consumers
    assert consumer.queue == "notify"
    for event in ("booking.created", "booking.cancelled"):
        assert ("email", consumer) in consumers_for(event)
    assert all(name != "email" for name, _ in consumers_for("connection.synced"))


def test_the_consumer_is_cores_booking_email_job() -> None:
    (consumer,) = spec("email").consumers
    module, _, name = consumer.function.rpartition(".")
    assert module == "hub.notifications.jobs"  # core keeps the consumer and its ledger
    function = getattr(importlib.import_module(module), name)
    assert function.__name__ == "send_booking_emails"


def test_the_spec_builds_a_connector_whose_only_part_is_a_notifier(settings: Settings) -> None:
    connector = spec("email").build(settings)
    assert isinstance(connector.notifier, Notifier)
    assert (connector.oauth, connector.calendars, connector.feed, connector.push) == (None, None, None, None)
