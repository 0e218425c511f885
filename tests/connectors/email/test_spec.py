"""The email connector as core sees it: through the registry and the outbox dispatch."""

from __future__ import annotations

import importlib

from hub.connectors import spec
from hub.jobs.dispatch import consumers_for


def test_registry_loads_the_spec_and_dispatch_routes_booking_events_to_it() -> None:
    email = spec("email")
    assert email.slug == "email"
    (consumer,) = email.consumers
    assert consumer.queue == "notify"
    for event in ("booking.created", "booking.cancelled"):
        assert ("email", consumer) in consumers_for(event)
    assert all(name != "email" for name, _ in consumers_for("connection.synced"))


def test_the_consumer_function_is_importable_by_its_path() -> None:
    (consumer,) = spec("email").consumers
    module, _, name = consumer.function.rpartition(".")
    function = getattr(importlib.import_module(module), name)
    assert callable(function)
    assert function.__name__ == "send_booking_emails"
