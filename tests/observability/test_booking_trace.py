"""One booking, one trace: from ``POST /v1/bookings`` through the outbox relay to the email,
the client webhook and the calendar write; retries stay in the trace as linked spans."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from hub.db.tables import SyncRun, WebhookAttempt, WebhookDelivery
from hub.jobs.queues import DEFAULT, queue
from hub.jobs.runner import enqueue
from hub.observability.tracing import tracer
from tests.observability.conftest import Pipeline, SpanRecorder
from tests.observability.traces import ancestors, hex_trace_id, in_trace, named, one, parent_of, render
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow

MONDAY = "2030-12-02"


def _is_call(span: ReadableSpan) -> bool:
    """A database or Redis call (everything else is what the trace is about)."""
    return "db.system" in (span.attributes or {})


def _booked(pipeline: Pipeline, spans: SpanRecorder, start: str) -> tuple[str, str]:
    """Book, wait for the relay, run the jobs; returns (booking id, trace id)."""
    host = pipeline.host()
    pipeline.link(host["id"])
    pipeline.run_jobs()  # setup, first sync, push channel
    spans.clear()
    booking_id = pipeline.book(host["id"], start)
    wait_for(lambda: bool(named(spans.spans(), "outbox.relay")), 10, "the outbox relay")
    pipeline.run_jobs()
    request = one(spans.spans(), "POST /v1/bookings")
    return booking_id, hex_trace_id(request)


def test_one_booking_is_one_trace_from_request_to_notifications(pipeline: Pipeline, spans: SpanRecorder) -> None:
    pipeline.subscribe(["booking.created"])
    booking_id, trace_id = _booked(pipeline, spans, f"{MONDAY}T09:00:00")
    trace = in_trace(spans.spans(), trace_id)
    print(f"trace {trace_id}\n{render(trace, keep=lambda s: not _is_call(s))}")

    request = one(trace, "POST /v1/bookings")
    assert request.kind is SpanKind.SERVER
    assert request.parent is None
    assert (request.attributes or {}).get("http.route") == "/v1/bookings"
    relay = one(trace, "outbox.relay")
    fan_out = one(trace, "webhooks.fan_out")  # done inside the dispatching job, no job of its own
    deliver = one(trace, "job webhooks.deliver")
    email = one(trace, "job email.booking")
    calendar = one(trace, "job connections.write_booking")
    assert parent_of(relay, trace) is request
    assert parent_of(fan_out, trace) is relay
    assert (fan_out.attributes or {})["hub.webhook.deliveries"] == 1
    for consumer in (email, calendar):
        assert parent_of(consumer, trace) is relay, consumer.name
        assert (consumer.attributes or {})["hub.job.outcome"] == "succeeded"
    assert parent_of(deliver, trace) is fan_out
    assert (deliver.attributes or {})["hub.job.outcome"] == "succeeded"
    assert ancestors(deliver, trace) == ["webhooks.fan_out", "outbox.relay", "POST /v1/bookings"]

    # the provider calls: the client webhook and the Google Calendar insert, as client spans
    calls = [s for s in trace if s.kind is SpanKind.CLIENT and not _is_call(s)]
    webhook_call = next(s for s in calls if parent_of(s, trace) is deliver)
    assert str((webhook_call.attributes or {}).get("http.url", "")).startswith(pipeline.receiver.url)
    google_calls = [s for s in calls if parent_of(s, trace) is calendar]
    assert [str((s.attributes or {}).get("http.url", "")).rsplit("/", 1)[-1] for s in google_calls] == ["events"]
    assert len(pipeline.google.inserts) == 1
    # database and Redis calls of the request and the jobs are in the same trace
    systems = {(s.attributes or {}).get("db.system") for s in trace if _is_call(s)}
    assert {"sqlite", "redis"} <= systems or {"postgresql", "redis"} <= systems

    # the trace id is on the delivery and its attempt, and the webhook reached the receiver
    assert len(pipeline.receiver.requests) == 1
    assert booking_id.encode() in pipeline.receiver.requests[0]["body"]
    with pipeline.db.read() as session:
        delivery = session.get(WebhookDelivery, pipeline.receiver.ids()[0])
        assert delivery is not None
        assert delivery.trace_id == trace_id
        attempts = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)))
    assert [a.trace_id for a in attempts] == [trace_id]


@pytest.mark.parametrize("receiver_statuses", [[500]])
def test_a_retried_delivery_is_a_linked_span_in_the_same_trace(
    pipeline: Pipeline, spans: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hub.deliveries.jobs.RETRY_DELAYS", (timedelta(0),) * 7)  # the retry is due at once
    pipeline.subscribe(["booking.created"])
    _booking_id, trace_id = _booked(pipeline, spans, f"{MONDAY}T10:00:00")
    trace = in_trace(spans.spans(), trace_id)
    print(f"trace {trace_id}\n{render(trace, keep=lambda s: not _is_call(s))}")

    first, second = sorted(named(trace, "job webhooks.deliver"), key=lambda s: s.start_time or 0)
    fan_out = one(trace, "webhooks.fan_out")
    assert parent_of(first, trace) is fan_out
    assert parent_of(second, trace) is fan_out  # the retry stays under what caused the delivery
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert (first.attributes or {})["hub.job.outcome"] == "succeeded"  # a failed attempt ends the job normally
    failed_call = next(s for s in trace if not _is_call(s) and parent_of(s, trace) is first)
    assert (failed_call.attributes or {}).get("http.status_code") == 500
    assert failed_call.status.status_code is StatusCode.ERROR
    assert [r["headers"]["webhook-id"] for r in pipeline.receiver.requests] == [
        pipeline.receiver.requests[0]["headers"]["webhook-id"]
    ] * 2
    with pipeline.db.read() as session:
        delivery_id = pipeline.receiver.requests[0]["headers"]["webhook-id"]
        attempts = list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempt_number)
            )
        )
    assert [(a.status_code, a.trace_id) for a in attempts] == [(500, trace_id), (200, trace_id)]


def test_a_job_retried_by_the_queue_links_to_its_failed_run(pipeline: Pipeline, spans: SpanRecorder) -> None:
    tag = uuid.uuid4().hex
    with tracer().start_as_current_span("test.cause") as cause:
        job = enqueue(pipeline.redis, "tests.support.jobs.transient", tag, id=f"t-{tag}")
    pipeline.run_jobs()
    q = queue(DEFAULT, pipeline.redis)
    ScheduledJobRegistry(queue=q).remove(job)  # make the retry due now instead of in a minute
    q.enqueue_job(job.fetch(job.id, connection=pipeline.redis, serializer=q.serializer))
    pipeline.run_jobs()

    runs = sorted(named(spans.spans(), "job test.transient"), key=lambda s: s.start_time or 0)
    assert len(runs) == 2
    for run in runs:
        assert run.parent is not None
        assert run.parent.span_id == cause.get_span_context().span_id
        assert run.status.status_code is StatusCode.ERROR
    assert [link.context.span_id for link in runs[1].links] == [runs[0].context.span_id]


def test_sync_runs_record_their_trace_id(pipeline: Pipeline, spans: SpanRecorder) -> None:
    host = pipeline.host()
    connection_id = pipeline.link(host["id"])
    pipeline.run_jobs()
    syncs = named(spans.spans(), "job connections.sync")
    assert syncs
    with pipeline.db.read() as session:
        recorded = set(session.scalars(select(SyncRun.trace_id).where(SyncRun.connection_id == connection_id)))
    assert recorded == {hex_trace_id(s) for s in syncs}


def test_a_reschedule_is_one_trace_from_request_to_patch_email_and_webhook(
    pipeline: Pipeline, spans: SpanRecorder
) -> None:
    pipeline.subscribe(["booking.rescheduled"])
    booking_id, _created = _booked(pipeline, spans, f"{MONDAY}T11:00:00")
    spans.clear()
    moved = pipeline.tenant.client.post(
        f"/v1/bookings/{booking_id}/reschedule",
        json={"start": f"{MONDAY}T14:00:00", "duration_minutes": 30, "timezone": "Europe/Berlin"},
    )
    assert moved.status_code == 200, moved.text
    wait_for(lambda: bool(named(spans.spans(), "outbox.relay")), 10, "the outbox relay")
    pipeline.run_jobs()
    request = one(spans.spans(), "POST /v1/bookings/{booking_id}/reschedule")
    trace_id = hex_trace_id(request)
    trace = in_trace(spans.spans(), trace_id)
    print(f"trace {trace_id}\n{render(trace, keep=lambda s: not _is_call(s))}")

    relay = one(trace, "outbox.relay")
    calendar = one(trace, "job connections.write_booking")
    email = one(trace, "job email.booking")
    deliver = one(trace, "job webhooks.deliver")
    assert parent_of(relay, trace) is request
    for consumer in (calendar, email):
        assert parent_of(consumer, trace) is relay, consumer.name
        assert (consumer.attributes or {})["hub.job.outcome"] == "succeeded"
    assert ancestors(deliver, trace) == ["webhooks.fan_out", "outbox.relay", request.name]

    # the provider call is a PATCH of the booking's own event, never a delete or an insert
    calls = [s for s in trace if s.kind is SpanKind.CLIENT and not _is_call(s)]
    google_calls = [s for s in calls if parent_of(s, trace) is calendar]
    assert [(s.attributes or {}).get("http.method") for s in google_calls] == ["PATCH"]
    event_id = pipeline.google.patches[-1][0]
    assert str((google_calls[0].attributes or {}).get("http.url", "")).endswith(f"/events/{event_id}")
    assert len(pipeline.google.inserts) == 1
    assert pipeline.google.deletes == []
    webhook_call = next(s for s in calls if parent_of(s, trace) is deliver)
    assert str((webhook_call.attributes or {}).get("http.url", "")).startswith(pipeline.receiver.url)
    assert [r["headers"].get("webhook-id") for r in pipeline.receiver.requests] == pipeline.receiver.ids()
    assert b"booking.rescheduled" in pipeline.receiver.requests[-1]["body"]
