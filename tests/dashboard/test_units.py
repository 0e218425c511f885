"""The dashboard's pure parts: signatures, the CSRF token, metric windows, the SVG chart."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

from dashboard.auth import csrf_token, csrf_valid, new_session
from dashboard.charts import Series, bar_chart
from dashboard.metrics import Sampler, quantile
from dashboard.render import span, when, window
from dashboard.signing import Signer


def test_signed_values_verify_only_for_their_purpose_and_key() -> None:
    signer = Signer(["new-secret", "old-secret"])
    token = signer.sign(b'{"a":1}', "session")
    assert signer.unsign(token, "session") == b'{"a":1}'
    assert signer.unsign(token, "flash") is None  # a value signed for one use is useless for another
    assert signer.unsign(token[:-2] + "AA", "session") is None
    assert signer.unsign("no-dot", "session") is None
    assert signer.unsign("a.!!!", "session") is None
    assert Signer(["another-secret"]).unsign(token, "session") is None


def test_rotation_keeps_values_signed_with_an_older_key() -> None:
    old = Signer(["old-secret"]).sign(b"x", "session")
    assert Signer(["new-secret", "old-secret"]).unsign(old, "session") == b"x"
    assert Signer(["new-secret"]).unsign(old, "session") is None


def test_csrf_token_belongs_to_one_session() -> None:
    signer = Signer(["s"])
    first, second = new_session(), new_session()
    token = csrf_token(signer, first)
    assert csrf_valid(signer, first, token)
    assert not csrf_valid(signer, second, token)
    assert not csrf_valid(signer, first, "")
    assert not csrf_valid(signer, None, token)


def test_quantile_interpolates_inside_a_bucket() -> None:
    buckets = {"0.1": 50.0, "0.5": 90.0, "1.0": 100.0, "+Inf": 100.0}
    assert quantile(buckets, 0.5) == 0.1
    assert abs((quantile(buckets, 0.7) or 0) - 0.3) < 1e-9
    assert quantile({"+Inf": 0.0}, 0.5) is None
    assert quantile({"1.0": 0.0, "+Inf": 4.0}, 0.5) == 1.0  # beyond the largest bucket: its bound


def test_sampler_counts_only_what_happened_in_the_window() -> None:
    registry = CollectorRegistry()
    bookings = Counter("hub_bookings_total", "", ["outcome"], registry=registry)
    latency = Histogram(
        "hub_request_duration_seconds",
        "",
        ["path", "method", "status_code", "app_name"],
        registry=registry,
        buckets=(0.01, 0.1, 1.0),
    )
    requests = Counter("hub_requests_total", "", ["path", "method", "status_code", "app_name"], registry=registry)
    bookings.labels("created").inc(5)  # before the first snapshot: not in any window
    sampler = Sampler(registry)
    sampler.sample()
    bookings.labels("created").inc(3)
    bookings.labels("conflict").inc(1)
    for status, seconds in (("201", 0.005), ("201", 0.05), ("500", 0.5), ("201", 0.05)):
        requests.labels("/v1/bookings", "POST", status, "hub").inc()
        latency.labels("/v1/bookings", "POST", status, "hub").observe(seconds)
    requests.labels("/dashboard", "GET", "200", "hub").inc(10)  # not the API
    figures = sampler.figures(3600)
    assert figures.bookings == {"created": 3.0, "conflict": 1.0}
    assert figures.booking_success_rate == 0.75
    assert figures.api_requests == 4
    assert figures.api_errors == 1
    assert figures.api_error_rate == 0.25
    assert figures.api_p50_ms is not None
    assert 10 <= figures.api_p50_ms <= 100
    assert figures.span_seconds < 3600
    assert window(figures.span_seconds, 3600, "last hour").endswith("(since start)")
    assert window(3600, 3600, "last hour") == "last hour"


def test_chart_has_a_bar_and_a_tooltip_per_hour() -> None:
    start = datetime(2030, 12, 2, 8, tzinfo=UTC)
    svg = bar_chart([Series("bookings", [0, 3, 1] + [0] * 21, "s-bookings")], start, label="Bookings")
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count("<title>") == 24
    assert "09:00\N{EN DASH}10:00 UTC: 3 bookings" in svg
    assert svg.count('class="s-bookings"') == 2  # only non-empty hours draw a bar
    assert ">5<" in svg  # the y axis tops at a round number above the highest bar


def test_times_render_in_utc_for_the_browser_to_convert() -> None:
    html = when(datetime(2030, 12, 2, 8, 30, tzinfo=UTC))
    assert html == '<time datetime="2030-12-02T08:30:00Z" title="2030-12-02 08:30:00 UTC">2030-12-02 08:30 UTC</time>'
    assert "never" in when(None, "never")
    assert span(45) == "45 s"
    assert span(3900) == "1 h 5 min"
    assert span(200000) == "2 d"
