"""The Graph client (PROTOCOLS E, errors and throttling): the error table over the documented
error bodies (Hub's code, Graph's code as ``provider_code``), Retry-After with fractional
seconds, 401 -> one refresh -> retry, and the "4 concurrent requests per mailbox" limit across
clients sharing a real Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import respx

from connectors.microsoft._limiter import KEY_PREFIX, MailboxLimiter
from connectors.microsoft.auth import MicrosoftTokens
from connectors.microsoft.client import MicrosoftClient, prefer
from connectors.microsoft.schemas import CalendarPage
from hub.connectors import CredentialStore, ResyncRequired
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.redis import connect, start_embedded
from tests.connectors.microsoft.helpers import (
    AUTHORITY,
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPH,
    HOME_ACCOUNT_ID,
    TOKEN_URL,
    credentials,
    fixture,
    respond,
    respond_http,
)
from tests.connectors.shared_suite.harness import MemoryStore

ME_URL = f"{GRAPH}/me/calendars"


class FixedTokens:
    """A token source that counts forced refreshes (the MSAL side is tested in test_auth)."""

    def __init__(self) -> None:
        self.forced = 0

    def access_token(self, credentials: CredentialStore, *, force_refresh: bool = False) -> str:
        self.forced += force_refresh
        return f"token-{self.forced}"


def graph(sleeps: list[float], tokens: object | None = None, limiter: MailboxLimiter | None = None) -> MicrosoftClient:
    return MicrosoftClient(
        tokens or FixedTokens(),  # type: ignore[arg-type]
        base_url=GRAPH,
        http_client=httpx.Client(),
        limiter=limiter,
        sleep=sleeps.append,
    )


def store() -> MemoryStore:
    return MemoryStore(credentials())


# --- the error table -------------------------------------------------------------------------------


def test_429_with_a_fractional_retry_after_waits_that_long_and_recovers(microsoft: respx.MockRouter) -> None:
    route = microsoft.get(ME_URL).mock(
        side_effect=[respond_http("graph_error_429_throttled_http"), httpx.Response(200, json={"value": []})]
    )
    sleeps: list[float] = []
    page = graph(sleeps).call(store(), "GET", "/me/calendars", CalendarPage)
    assert page.value == []
    assert sleeps == [2.128]  # Retry-After: 2.128, parsed as seconds with fractions
    assert route.call_count == 2


def test_throttling_that_persists_is_transient_with_its_retry_after(microsoft: respx.MockRouter) -> None:
    microsoft.get(ME_URL).mock(return_value=respond_http("graph_error_429_throttled_http"))
    sleeps: list[float] = []
    with pytest.raises(TransientError) as caught:
        graph(sleeps).call(store(), "GET", "/me/calendars")
    assert (caught.value.code, caught.value.provider_code) == ("rate_limited", "TooManyRequests")
    assert caught.value.retry_after == pytest.approx(2.128)
    assert sleeps == [2.128] * 3  # four attempts in all, then the job queue takes over


def test_503_carries_its_retry_after(microsoft: respx.MockRouter) -> None:
    microsoft.get(ME_URL).mock(return_value=respond_http("graph_error_503_service_unavailable_http"))
    sleeps: list[float] = []
    with pytest.raises(TransientError) as caught:
        graph(sleeps).call(store(), "GET", "/me/calendars")
    assert (caught.value.code, caught.value.provider_code) == ("provider_unavailable", "serviceNotAvailable")
    assert caught.value.retry_after == 10.0
    assert sleeps == [10.0] * 3


def test_504_is_transient(microsoft: respx.MockRouter) -> None:
    microsoft.get(ME_URL).mock(
        side_effect=[httpx.Response(504, headers={"Retry-After": "0.5"}), httpx.Response(200, json={"value": []})]
    )
    sleeps: list[float] = []
    graph(sleeps).call(store(), "GET", "/me/calendars")
    assert sleeps == [0.5]


@pytest.mark.parametrize("status", [410, 400])
def test_sync_state_not_found_is_a_resync_whatever_the_status(microsoft: respx.MockRouter, status: int) -> None:
    # graph_error_410_sync_state_not_found.json spells the code "SyncStateNotFound": codes match case-insensitively
    microsoft.get(ME_URL).mock(return_value=respond("graph_error_410_sync_state_not_found", status))
    sleeps: list[float] = []
    with pytest.raises(ResyncRequired) as caught:
        graph(sleeps).call(store(), "GET", "/me/calendars")
    assert (caught.value.code, caught.value.provider_code) == ("resync_required", "SyncStateNotFound")
    assert sleeps == []


def test_a_bare_410_is_a_resync(microsoft: respx.MockRouter) -> None:
    microsoft.get(ME_URL).respond(410)
    with pytest.raises(ResyncRequired):
        graph([]).call(store(), "GET", "/me/calendars")


@pytest.mark.parametrize(
    ("status", "code", "kind", "hub_code"),
    [
        (404, "itemNotFound", SkippableError, "not_found"),
        (404, "ErrorItemNotFound", SkippableError, "not_found"),
        (403, "accessDenied", PermanentError, "permission_denied"),
        (403, "ErrorAccessDenied", PermanentError, "permission_denied"),
        (400, "resyncRequired", ResyncRequired, "resync_required"),
        (403, "activityLimitReached", TransientError, "rate_limited"),
        # no Exchange Online mailbox: not "gone"
        (404, "MailboxNotEnabledForRESTAPI", PermanentError, "account_unsupported"),
    ],
)
def test_graph_error_codes_decide(
    microsoft: respx.MockRouter, status: int, code: str, kind: type[PipelineError], hub_code: str
) -> None:
    body = {"error": {"code": code, "message": "(never read)", "innerError": {"request-id": "r", "date": "d"}}}
    microsoft.get(ME_URL).respond(status, json=body)
    with pytest.raises(kind) as caught:
        graph([]).call(store(), "GET", "/me/calendars")
    assert (caught.value.code, caught.value.provider_code) == (hub_code, code)


def test_an_unknown_code_falls_back_to_the_status(microsoft: respx.MockRouter) -> None:
    microsoft.get(ME_URL).mock(return_value=respond("graph_error_doc_example", 416))
    with pytest.raises(PermanentError) as caught:
        graph([]).call(store(), "GET", "/me/calendars")
    assert (caught.value.code, caught.value.provider_code) == ("invalid_request", "invalidRange")


def test_a_network_failure_is_transient(microsoft: respx.MockRouter) -> None:
    microsoft.get(ME_URL).mock(side_effect=httpx.ConnectTimeout("timed out"))
    sleeps: list[float] = []
    with pytest.raises(TransientError) as caught:
        graph(sleeps).call(store(), "GET", "/me/calendars")
    assert caught.value.code == "timeout"
    assert len(sleeps) == 3


# --- 401: refresh once, then reauth ---------------------------------------------------------------


def test_a_401_refreshes_the_token_once_and_retries(microsoft: respx.MockRouter) -> None:
    route = microsoft.get(ME_URL).mock(
        side_effect=[respond("graph_error_401_invalid_token", 401), httpx.Response(200, json={"value": []})]
    )
    tokens = FixedTokens()
    graph([], tokens).call(store(), "GET", "/me/calendars")
    assert tokens.forced == 1
    assert route.calls[0].request.headers["authorization"] == "Bearer token-0"
    assert route.calls[1].request.headers["authorization"] == "Bearer token-1"


def test_a_second_401_requires_reauth(microsoft: respx.MockRouter) -> None:
    route = microsoft.get(ME_URL).mock(return_value=respond("graph_error_401_invalid_token", 401))
    sleeps: list[float] = []
    with pytest.raises(ReauthRequired) as caught:
        graph(sleeps, FixedTokens()).call(store(), "GET", "/me/calendars")
    assert (caught.value.code, caught.value.provider_code) == ("reauth_required", "InvalidAuthenticationToken")
    assert route.call_count == 2
    assert sleeps == []


def test_a_401_forces_a_real_msal_refresh_whose_cache_is_saved(microsoft: respx.MockRouter) -> None:
    renewed = {**fixture("entra_token_response"), "access_token": "eyJ.after-401.sig"}
    token = microsoft.post(TOKEN_URL, name="token").respond(json=renewed)
    route = microsoft.get(ME_URL).mock(
        side_effect=[respond("graph_error_401_invalid_token", 401), httpx.Response(200, json={"value": []})]
    )
    tokens = MicrosoftTokens(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, authority=AUTHORITY, http=httpx.Client())
    credential_store = store()
    graph([], tokens).call(credential_store, "GET", "/me/calendars")
    assert token.call_count == 1  # the cached token was still valid: only the 401 forced a refresh
    assert route.calls[1].request.headers["authorization"] == "Bearer eyJ.after-401.sig"
    assert len(credential_store.saved) == 1


def test_requests_ask_graph_for_utc_when_told(microsoft: respx.MockRouter) -> None:
    route = microsoft.get(ME_URL).respond(json={"value": []})
    graph([]).call(store(), "GET", "/me/calendars", headers=prefer('outlook.timezone="UTC"', "odata.maxpagesize=50"))
    assert route.calls.last.request.headers.get_list("prefer") == ['outlook.timezone="UTC"', "odata.maxpagesize=50"]


# --- at most 4 requests in flight per mailbox ------------------------------------------------------


class SlowMailbox:
    """A Graph endpoint that takes ``delay`` seconds and records how many requests overlap."""

    def __init__(self, delay: float = 0.25) -> None:
        self.delay = delay
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        return httpx.Response(200, json={"value": []})


def run_in_threads(clients: list[MicrosoftClient]) -> list[BaseException]:
    failures: list[BaseException] = []
    start = threading.Barrier(len(clients))

    def call(client: MicrosoftClient) -> None:
        start.wait()
        try:
            client.call(store(), "GET", "/me/calendars")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=call, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return failures


def test_six_workers_sharing_redis_never_exceed_four_requests_per_mailbox(
    microsoft: respx.MockRouter, tmp_path: Path
) -> None:
    url = start_embedded(tmp_path)
    endpoint = SlowMailbox()
    microsoft.get(ME_URL).mock(side_effect=endpoint)
    # one client and one Redis connection each, as six worker processes would have
    clients = [graph([], limiter=MailboxLimiter(connect(url))) for _ in range(6)]

    assert run_in_threads(clients) == []
    assert endpoint.most == 4  # the limit, and requests did run side by side up to it
    assert connect(url).zcard(KEY_PREFIX + HOME_ACCOUNT_ID) == 0  # every lease was released


def test_another_mailbox_is_not_held_up(microsoft: respx.MockRouter, tmp_path: Path) -> None:
    url = start_embedded(tmp_path)
    redis_client = connect(url)
    busy = KEY_PREFIX + HOME_ACCOUNT_ID
    redis_client.zadd(busy, {f"lease-{n}": time.time() * 1000 + 60_000 for n in range(4)})  # another worker's 4
    microsoft.get(ME_URL).respond(json={"value": []})
    limiter = MailboxLimiter(connect(url), wait_seconds=0.3)

    with pytest.raises(TransientError) as caught:
        graph([], limiter=limiter).call(store(), "GET", "/me/calendars")
    assert caught.value.code == "mailbox_busy"

    other = MemoryStore({**credentials(), "home_account_id": "other.mailbox"})
    assert graph([], limiter=limiter).call(other, "GET", "/me/calendars", CalendarPage).value == []


def test_expired_leases_of_a_dead_worker_free_their_slots(microsoft: respx.MockRouter, tmp_path: Path) -> None:
    redis_client = connect(start_embedded(tmp_path))
    redis_client.zadd(KEY_PREFIX + HOME_ACCOUNT_ID, {f"dead-{n}": 1 for n in range(4)})  # long expired
    microsoft.get(ME_URL).respond(json={"value": []})
    assert graph([], limiter=MailboxLimiter(redis_client, wait_seconds=0.3)).call(
        store(), "GET", "/me/calendars", CalendarPage
    )


def test_without_redis_the_limit_holds_per_process(microsoft: respx.MockRouter) -> None:
    endpoint = SlowMailbox()
    microsoft.get(ME_URL).mock(side_effect=endpoint)
    shared = MailboxLimiter(None)
    assert run_in_threads([graph([], limiter=shared) for _ in range(6)]) == []
    assert endpoint.most == 4


def test_an_unreachable_redis_falls_back_to_the_per_process_limit(microsoft: respx.MockRouter) -> None:
    endpoint = SlowMailbox()
    microsoft.get(ME_URL).mock(side_effect=endpoint)
    shared = MailboxLimiter(connect("redis://127.0.0.1:9/0", socket_connect_timeout=0.2))
    assert run_in_threads([graph([], limiter=shared) for _ in range(6)]) == []
    assert endpoint.most == 4
