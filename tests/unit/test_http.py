"""``hub.http``: the error table every provider layers its reasons over, and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from hub import http
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError


def answer(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://api.example.test/v1/things?secret=1")
    return httpx.Response(status, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (400, PermanentError, "invalid_request"),
        (401, ReauthRequired, "reauth_required"),
        (403, PermanentError, "permission_denied"),
        (404, SkippableError, "not_found"),
        (408, TransientError, "provider_unavailable"),
        (409, PermanentError, "conflict"),
        (410, SkippableError, "not_found"),
        (418, PermanentError, "invalid_request"),
        (429, TransientError, "rate_limited"),
        (500, TransientError, "provider_unavailable"),
        (503, TransientError, "provider_unavailable"),
        (599, TransientError, "provider_unavailable"),
    ],
)
def test_a_bare_status_has_one_meaning(status: int, kind: type[PipelineError], code: str) -> None:
    error = http.DEFAULT_TABLE.classify(answer(status))
    assert type(error) is kind
    assert (error.code, error.provider_code) == (code, f"http_{status}")


def test_the_message_names_status_reason_and_address_but_not_the_query() -> None:
    error = http.DEFAULT_TABLE.classify(answer(403), reason="forbidden")
    assert error.message == "HTTP 403 forbidden from GET https://api.example.test/v1/things"


PROVIDER = http.DEFAULT_TABLE.over(
    {
        (403, "rateLimitExceeded"): (TransientError, http.RATE_LIMITED),
        (None, "TooManyRequests"): (TransientError, http.RATE_LIMITED),
        (None, "accessDenied"): (PermanentError, http.PERMISSION_DENIED),
        (409, None): (SkippableError, "already_there"),
    },
    retry_after={http.RATE_LIMITED: 60.0},
)


def test_a_provider_reason_wins_over_the_status_and_keeps_the_providers_name() -> None:
    error = PROVIDER.classify(answer(403), reason="rateLimitExceeded")
    assert isinstance(error, TransientError)
    assert (error.code, error.provider_code) == ("rate_limited", "rateLimitExceeded")


def test_reasons_match_whatever_their_case_and_a_reason_rule_without_status_any_status() -> None:
    error = PROVIDER.classify(answer(400), reason="toomanyrequests")
    assert isinstance(error, TransientError)
    assert error.code == "rate_limited"
    assert error.provider_code == "toomanyrequests"  # as the provider sent it


def test_a_reason_the_table_does_not_know_falls_back_to_the_status() -> None:
    error = PROVIDER.classify(answer(403), reason="insufficientPermissions")
    assert type(error) is PermanentError
    assert (error.code, error.provider_code) == ("permission_denied", "insufficientPermissions")


def test_a_provider_status_rule_replaces_the_default_one() -> None:
    assert type(PROVIDER.classify(answer(409))) is SkippableError
    assert PROVIDER.rule(409) == (SkippableError, "already_there")
    assert http.DEFAULT_TABLE.rule(409) == (PermanentError, "conflict")  # the base is untouched


def test_a_401_means_the_token_whatever_reason_the_body_gives() -> None:
    error = PROVIDER.classify(answer(401), reason="accessDenied")
    assert type(error) is ReauthRequired
    assert (error.code, error.provider_code) == ("reauth_required", "accessDenied")


def test_a_token_table_decides_by_reason_on_any_status_even_401() -> None:
    error = http.OAUTH_TABLE.classify(answer(401), reason="invalid_client")
    assert type(error) is PermanentError
    assert error.code == "provider_misconfigured"


@pytest.mark.parametrize(
    ("reason", "kind", "code"),
    [
        ("invalid_grant", ReauthRequired, "reauth_required"),
        ("interaction_required", ReauthRequired, "reauth_required"),
        ("unauthorized_client", PermanentError, "provider_misconfigured"),
        ("temporarily_unavailable", TransientError, "provider_unavailable"),
        ("unheard_of", PermanentError, "invalid_request"),
    ],
)
def test_token_endpoint_errors(reason: str, kind: type[PipelineError], code: str) -> None:
    error = http.OAUTH_TABLE.error("refused", status=None, reason=reason)
    assert type(error) is kind
    assert (error.code, error.provider_code) == (code, reason)


def test_while_linking_a_grant_needing_reauth_means_the_code_is_unusable() -> None:
    error = http.linking_error(http.OAUTH_TABLE.error("refused", status=None, reason="invalid_grant"))
    assert type(error) is PermanentError
    assert (error.code, error.provider_code) == ("oauth_code_invalid", "invalid_grant")
    transient = http.OAUTH_TABLE.error("down", status=None, reason="server_error")
    assert http.linking_error(transient) is transient


def test_retry_after_is_read_and_a_code_may_bring_its_own_default() -> None:
    told = PROVIDER.classify(answer(429, {"Retry-After": "2.5"}), reason="TooManyRequests")
    assert isinstance(told, TransientError)
    assert told.retry_after == 2.5
    untold = PROVIDER.classify(answer(429), reason="TooManyRequests")
    assert isinstance(untold, TransientError)
    assert untold.retry_after == 60.0
    bare = http.DEFAULT_TABLE.classify(answer(503))
    assert isinstance(bare, TransientError)
    assert bare.retry_after is None


def test_a_per_call_override_decides_by_status_before_any_reason() -> None:
    overrides = {403: (PermanentError, "calendar_locked")}
    error = PROVIDER.classify(answer(403), reason="rateLimitExceeded", overrides=overrides)
    assert type(error) is PermanentError
    assert (error.code, error.provider_code) == ("calendar_locked", "rateLimitExceeded")
    assert type(PROVIDER.classify(answer(404), overrides=overrides)) is SkippableError  # other statuses unchanged


def test_names_tells_whether_a_reason_has_a_rule_of_its_own() -> None:
    assert PROVIDER.names("TOOMANYREQUESTS")
    assert not PROVIDER.names("somethingElse")
    assert not PROVIDER.names(None)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2.128", 2.128), ("0", 0.0), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert http.retry_after_seconds(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert http.retry_after_seconds("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0


def test_transport_failures_are_transient_and_have_no_provider_code() -> None:
    timeout = http.from_transport_error(httpx.ReadTimeout("slow"))
    refused = http.from_transport_error(httpx.ConnectError("refused"))
    assert (timeout.code, refused.code) == ("timeout", "network_error")
    assert timeout.provider_code is None
