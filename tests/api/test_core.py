"""The core: errcode table, retries, token refresh, secrets, parity, pacing and derived ids."""

from __future__ import annotations

import asyncio
import inspect
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wxsegment.api as api_module
from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    ERRCODE_FAMILIES,
    AsyncClient,
    BusyError,
    Client,
    CredentialError,
    DailyQuotaError,
    FileTokenStore,
    InvalidTokenError,
    MemoryTokenStore,
    MinuteQuotaError,
    RetryPolicy,
    Text,
    Token,
    WeChatError,
    WeChatHTTPStatusError,
    WeChatTransportError,
    error_for,
    should_retry,
)
from wxsegment.api._core import (
    Call,
    Pacer,
    balanced_chunks,
    decode_response,
    derive_clientmsgid,
    dumps,
)
from wxsegment.testing import FakeWeChat

TOKEN_PATHS = ("/cgi-bin/stable_token", "/cgi-bin/token")


def _count(fake: FakeWeChat, path: str) -> int:
    return sum(c.path == path for c in fake.calls)


def _token_fetches(fake: FakeWeChat) -> int:
    """Token requests the fake answered with a token."""
    return sum(c.path in TOKEN_PATHS and c.errcode is None for c in fake.calls)


# -- errcode table ------------------------------------------------------------------------------

EXPECTED_FAMILY = {
    -1: "BusyError",
    40001: "InvalidTokenError",
    40014: "InvalidTokenError",
    42001: "InvalidTokenError",
    40125: "CredentialError",
    40164: "CredentialError",
    45009: "DailyQuotaError",
    45011: "MinuteQuotaError",
    45028: "MassQuotaError",
    45065: "DuplicateClientMsgIdError",
    45066: "ClientMsgIdRetryTooFastError",
    45067: "ClientMsgIdTooLongError",
    40003: "InvalidOpenIDError",
    49003: "InvalidOpenIDError",
    43019: "RecipientRefusedError",
    45015: "ServiceWindowClosedError",
    45047: "ServiceWindowExhaustedError",
    45056: "TooManyTagsError",
    45059: "FollowerTagLimitError",
    45057: "TagTooLargeError",
    45157: "TagError",
    45158: "TagError",
    65320: "MenuError",
    40016: "MenuError",
    40007: "MediaError",
    40037: "TemplateError",
    48001: "PermissionDeniedError",
    40032: "InvalidRequestError",
    40130: "InvalidRequestError",
    9500002: "BusyError",
    48006: "ClearQuotaExhaustedError",
    48003: "PermissionDeniedError",
    61500: "InvalidRequestError",
    61501: "InvalidRequestError",
    65400: "PermissionDeniedError",
    65401: "InvalidRequestError",
    65406: "InvalidRequestError",
    76001: "InvalidRequestError",
    76003: "PermissionDeniedError",
    76021: "InvalidRequestError",
    76022: "CredentialError",
    40201: "InvalidRequestError",
}


@pytest.mark.parametrize(("errcode", "family"), sorted(ERRCODE_FAMILIES.items()))
def test_every_errcode_maps_to_its_family(errcode: int, family: type[WeChatError]) -> None:
    """Each code in the table raises its family, carrying errcode, errmsg and endpoint."""
    error = error_for(errcode, "msg", "/cgi-bin/x")
    assert type(error) is family
    assert isinstance(error, WeChatError)
    assert (error.errcode, error.errmsg, error.endpoint) == (errcode, "msg", "/cgi-bin/x")
    assert family is not WeChatError


@pytest.mark.parametrize(("errcode", "name"), sorted(EXPECTED_FAMILY.items()))
def test_documented_codes_reach_the_named_family(errcode: int, name: str) -> None:
    """Key codes from WeChat's docs map to the family the docs imply."""
    assert type(error_for(errcode, "", "/p")).__name__ == name


def test_table_covers_the_documented_ranges() -> None:
    """Every code of the documented ranges (menus, kf, 41001-41009, ...) is in the table."""
    ranges = [
        range(40015, 40029),
        range(41001, 41010),
        range(44001, 44005),
        range(45001, 45012),
        range(46001, 46005),
        range(61450, 61458),
        range(65301, 65315),
        range(48001, 48007),
        range(40201, 40204),
        range(65400, 65409),
        range(76001, 76004),
    ]
    for codes in ranges:
        missing = [c for c in codes if c not in ERRCODE_FAMILIES]
        assert missing == []


@given(st.integers().filter(lambda c: c not in ERRCODE_FAMILIES and c != 0))
def test_unknown_codes_map_to_the_root(errcode: int) -> None:
    """An errcode outside the table gives the root WeChatError."""
    assert type(error_for(errcode, "?", "/p")) is WeChatError


def test_decode_response_shapes() -> None:
    """No errcode and errcode 0 are success; a string errcode is coerced; 5xx is HTTP error."""
    assert decode_response(200, b'{"tags": []}', "/p") == {"tags": []}
    assert decode_response(200, b'{"errcode": 0, "errmsg": "ok"}', "/p")["errmsg"] == "ok"
    with pytest.raises(DailyQuotaError):
        decode_response(200, b'{"errcode": "45009", "errmsg": "quota"}', "/p")
    with pytest.raises(WeChatHTTPStatusError):
        decode_response(502, b"bad gateway", "/p")
    with pytest.raises(WeChatTransportError):
        decode_response(200, b"<html>", "/p")


def test_dumps_is_raw_utf8() -> None:
    """dumps keeps non-ASCII characters as UTF-8 bytes."""
    assert dumps({"name": "广东"}) == '{"name":"广东"}'.encode()


# -- retry decisions ----------------------------------------------------------------------------

READ = Call("GET", "/cgi-bin/tags/get")
SEND = Call("POST", "/cgi-bin/message/custom/send", replayable=False)


@pytest.mark.parametrize(
    ("call", "error", "expected"),
    [
        (READ, BusyError(-1, "busy", "/p"), True),
        (SEND, BusyError(-1, "busy", "/p"), False),
        (READ, WeChatHTTPStatusError(503, "/p"), True),
        (READ, WeChatHTTPStatusError(404, "/p"), False),
        (SEND, WeChatHTTPStatusError(503, "/p"), False),
        (READ, WeChatTransportError("t", "/p", kind="timeout"), True),
        (SEND, WeChatTransportError("t", "/p", kind="timeout"), False),
        (SEND, WeChatTransportError("t", "/p", kind="connect"), True),
        (READ, WeChatTransportError("t", "/p", kind="decode"), False),
        (READ, DailyQuotaError(45009, "q", "/p"), False),
        (READ, MinuteQuotaError(45011, "q", "/p"), False),
        (READ, InvalidTokenError(40001, "t", "/p"), False),
        (READ, ValueError("x"), False),
    ],
)
def test_should_retry(call: Call, error: BaseException, expected: bool) -> None:
    """Busy, 5xx and transport errors retry only replayable calls; quotas never."""
    assert should_retry(call, error) is expected


@pytest.mark.parametrize("fault", ["busy", "http_500", "timeout"])
def test_transient_faults_are_retried_without_sleeping(
    api: Harness, fake: FakeWeChat, fault: str
) -> None:
    """Two transient faults on a read cost two retries with growing waits, then succeed."""
    fake.inject(fault, times=2, path="/cgi-bin/tags/get")  # type: ignore[arg-type]
    assert api.run(lambda c: c.tags.list()) is not None
    assert len(api.sleeps) == 2
    assert api.sleeps[0] < api.sleeps[1]
    assert [c.fault for c in fake.calls if c.path == "/cgi-bin/tags/get"] == [fault, fault, None]


def test_retries_are_bounded(api: Harness, fake: FakeWeChat) -> None:
    """After the policy's attempts the last error is raised."""
    fake.inject("busy", times=10, path="/cgi-bin/tags/get")
    with pytest.raises(BusyError):
        api.run(lambda c: c.tags.list())
    assert len(api.sleeps) == 3
    assert _count(fake, "/cgi-bin/tags/get") == 4


def test_sends_without_key_are_not_retried(api: Harness, fake: FakeWeChat) -> None:
    """A customer-service message (no idempotency key) is not replayed after a timeout."""
    (openid,) = fake.add_followers(1)
    fake.open_window(openid, "message")
    fake.inject("timeout", path="/cgi-bin/message/custom/send")
    with pytest.raises(WeChatTransportError):
        api.run(lambda c: c.messages.send(openid, Text("x")))
    assert api.sleeps == []
    assert _count(fake, "/cgi-bin/message/custom/send") == 1


def test_mass_send_retried_with_same_clientmsgid(api: Harness, fake: FakeWeChat) -> None:
    """A mass send hitting busy is replayed with the very same clientmsgid."""
    fake.add_followers(2)
    fake.inject("busy", path="/cgi-bin/message/mass/sendall")
    result = api.run(lambda c: c.mass.send_to_all(Text("x"), clientmsgid="k1"))
    bodies = [c.json for c in fake.calls if c.path == "/cgi-bin/message/mass/sendall"]
    assert [b["clientmsgid"] for b in bodies] == ["k1", "k1"]
    assert result.clientmsgid == "k1"
    assert not result.already_sent
    assert list(fake.jobs) == [result.msg_id]


def test_timeout_after_send_is_already_sent(api: Harness, fake: FakeWeChat) -> None:
    """A send whose answer is lost is retried with its id; 45065 reports it already sent."""
    openids = fake.add_followers(3)
    fake.inject("timeout", path="/cgi-bin/message/mass/sendall", after_processing=True)
    result = api.run(lambda c: c.mass.send_to_all(Text("once"), clientmsgid="lost-1"))
    assert result.already_sent
    assert list(fake.jobs) == [result.msg_id]
    assert [fake.mass_received(o) for o in openids] == [1, 1, 1]
    assert len(api.sleeps) == 1


def test_template_retried_only_with_client_msg_id(api: Harness, fake: FakeWeChat) -> None:
    """A busy answer is retried for a template carrying client_msg_id, raised without one."""
    (openid,) = fake.add_followers(1)
    fake.inject("busy", path="/cgi-bin/message/template/send")
    with pytest.raises(BusyError):
        api.run(lambda c: c.messages.send_template(openid, "tpl", {"thing1": "a"}))
    assert fake.messages == ()
    fake.inject("busy", path="/cgi-bin/message/template/send")
    sent = api.run(
        lambda c: c.messages.send_template(openid, "tpl", {"thing1": "a"}, client_msg_id="t-1")
    )
    assert [m.msgid for m in fake.messages] == [sent.msgid]
    assert len(api.sleeps) == 1


def test_single_attempt_policy_never_retries(
    make: Callable[..., Harness], fake: FakeWeChat
) -> None:
    """RetryPolicy(attempts=1) raises the first transient error."""
    harness = make(retry=RetryPolicy(attempts=1))
    fake.inject("busy", path="/cgi-bin/tags/get")
    with pytest.raises(BusyError):
        harness.run(lambda c: c.tags.list())
    assert harness.sleeps == []
    assert _count(fake, "/cgi-bin/tags/get") == 1


def _send_all(c: Any) -> Any:
    return c.mass.send_to_all(Text("x"), clientmsgid="k")


def _list_tags(c: Any) -> Any:
    return c.tags.list()


@pytest.mark.parametrize(
    ("fault", "error"), [("rate_limited", DailyQuotaError), ("mass_rate", MinuteQuotaError)]
)
@pytest.mark.parametrize(
    ("path", "action"),
    [("/cgi-bin/message/mass/sendall", _send_all), ("/cgi-bin/tags/get", _list_tags)],
)
def test_quota_errors_are_not_hammered(
    api: Harness,
    fake: FakeWeChat,
    fault: str,
    error: type[WeChatError],
    path: str,
    action: Callable[[Any], Any],
) -> None:
    """45009 and 45011 are raised after one call, with no retry, for sends and reads alike."""
    fake.inject(fault, times=5)  # type: ignore[arg-type]
    with pytest.raises(error):
        api.run(action)
    assert api.sleeps == []
    assert [c.path for c in fake.calls if c.path not in TOKEN_PATHS] == [path]
    assert fake.jobs == {}


# -- tokens -------------------------------------------------------------------------------------


def test_token_is_cached(api: Harness, fake: FakeWeChat) -> None:
    """Many calls fetch one token."""
    for _ in range(3):
        api.run(lambda c: c.tags.list())
    assert _token_fetches(fake) == 1


def test_expired_token_refreshes_once_and_replays(api: Harness, fake: FakeWeChat) -> None:
    """A 42001 triggers one refresh and one replay of the same call."""
    api.run(lambda c: c.tags.list())
    fake.expire_tokens()
    api.run(lambda c: c.tags.list())
    assert _token_fetches(fake) == 2
    assert [c.errcode for c in fake.calls if c.path == "/cgi-bin/tags/get"] == [None, 42001, None]


@pytest.mark.parametrize(("fault", "errcode"), [("token_expired", 42001), ("token_invalid", 40001)])
def test_refused_token_refreshes_once_and_replays(
    api: Harness, fake: FakeWeChat, fault: str, errcode: int
) -> None:
    """A token refused mid-life (42001 or 40001) is replaced once and the call replayed."""
    api.run(lambda c: c.tags.list())
    fake.inject(fault, path="/cgi-bin/tags/get")  # type: ignore[arg-type]
    assert api.run(lambda c: c.tags.list()) is not None
    assert [c.errcode for c in fake.calls if c.path == "/cgi-bin/tags/get"] == [
        None,
        errcode,
        None,
    ]
    assert api.sleeps == []


def test_token_expiring_on_the_clock_is_replaced(
    api: Harness, fake: FakeWeChat, clock: FixedClock
) -> None:
    """After the token's lifetime passes on the shared clock, the next call uses a new one."""
    from datetime import timedelta

    api.run(lambda c: c.tags.list())
    first = api.run(lambda c: c.access_token())
    clock.advance(timedelta(hours=3))
    api.run(lambda c: c.tags.list())
    assert api.run(lambda c: c.access_token()) != first
    assert not any(c.errcode for c in fake.calls)


def test_token_refresh_never_loops(api: Harness, fake: FakeWeChat) -> None:
    """If the fresh token is refused too, the error is raised after a single replay."""
    fake.inject("token_expired", times=5, path="/cgi-bin/tags/get")
    with pytest.raises(InvalidTokenError):
        api.run(lambda c: c.tags.list())
    assert _count(fake, "/cgi-bin/tags/get") == 2
    # One refresh: stable_token hands back the refused token, so it is forced once.
    bodies = [c.json for c in fake.calls if c.path == "/cgi-bin/stable_token"]
    assert [b["force_refresh"] for b in bodies] == [False, False, True]


def test_token_refreshed_before_expiry_margin(api: Harness, fake: FakeWeChat) -> None:
    """A token within the margin of its expiry is replaced proactively."""
    from datetime import timedelta

    api.run(lambda c: c.tags.list())
    api.clock.advance(timedelta(seconds=7200 - 301))
    api.run(lambda c: c.tags.list())
    assert _count(fake, "/cgi-bin/stable_token") == 1
    api.clock.advance(timedelta(seconds=2))
    api.run(lambda c: c.tags.list())
    assert _count(fake, "/cgi-bin/stable_token") == 2
    assert not any(c.errcode for c in fake.calls)


def test_wrong_secret_is_a_credential_error(kind: str, fake: FakeWeChat) -> None:
    """A refused secret raises CredentialError (not InvalidTokenError) with no retry loop."""
    harness = Harness(kind, fake, secret="not-the-secret")
    with pytest.raises(CredentialError) as info:
        harness.run(lambda c: c.tags.list())
    assert not isinstance(info.value, InvalidTokenError)
    assert info.value.errcode == 40125
    assert [c.path for c in fake.calls] == ["/cgi-bin/stable_token"]
    assert harness.sleeps == []


def test_classic_token_endpoint(make: Callable[..., Harness], fake: FakeWeChat) -> None:
    """token_endpoint="classic" fetches from GET /cgi-bin/token."""
    harness = make(token_endpoint="classic")
    harness.run(lambda c: c.tags.list())
    assert (fake.calls[0].method, fake.calls[0].path) == ("GET", "/cgi-bin/token")
    assert _count(fake, "/cgi-bin/stable_token") == 0


def test_async_refresh_is_single_flight(fake: FakeWeChat) -> None:
    """Fifty concurrent async calls on a cold client fetch a single token."""
    client = AsyncClient(
        fake.appid,
        fake.secret,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)),
    )

    async def main() -> None:
        await asyncio.gather(*(client.tags.list() for _ in range(50)))

    asyncio.run(main())
    assert _token_fetches(fake) == 1


def test_sync_refresh_is_single_flight(fake: FakeWeChat) -> None:
    """Threads sharing a cold Client fetch a single token."""
    from concurrent.futures import ThreadPoolExecutor

    client = Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
    )
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.tags.list(), range(32)))
    assert _token_fetches(fake) == 1


def test_processes_share_a_token_through_the_store(tmp_path: Path, fake: FakeWeChat) -> None:
    """Two clients on one FileTokenStore fetch one token; the file is private (0600)."""
    store = FileTokenStore(tmp_path / "tokens")
    for _ in range(2):
        client = Client(
            fake.appid,
            fake.secret,
            token_store=store,
            http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        )
        client.tags.list()
    assert _token_fetches(fake) == 1
    files = list((tmp_path / "tokens").glob("*.token"))
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600


def test_token_stores_round_trip(tmp_path: Path) -> None:
    """Memory and file stores return what was set, and None for unknown keys."""
    token = Token("abc", 1234.5)
    for store in (MemoryTokenStore(), FileTokenStore(tmp_path)):
        assert store.get("k") is None
        store.set("k", token)
        assert store.get("k") == token
        assert "abc" not in repr(store)


def test_redis_token_store() -> None:
    """RedisTokenStore shares a token through a real Redis, under its own key prefix."""
    from tests._services import REDIS_URL, unreachable

    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(reason)
    store = api_module.RedisTokenStore.from_url(REDIS_URL, prefix=f"wxs-test-{os.getpid()}:")
    import time

    token = Token("tok", time.time() + 100)
    try:
        assert store.get("k") is None
        store.set("k", token)
        assert store.get("k") == token
    finally:
        store._redis.delete(store.prefix + "k")
        store._redis.close()


# -- secrets ------------------------------------------------------------------------------------

SECRET = "SENTINEL-SECRET-9f8e7d"


def test_secrets_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    """Reprs, error messages and logs never contain the secret or the token."""
    import logging

    caplog.set_level(logging.DEBUG, logger="wxsegment")
    fake = FakeWeChat(secret=SECRET)
    transport = httpx.MockTransport(fake.handler)
    client = Client(
        fake.appid, SECRET, http_client=httpx.Client(transport=transport), sleep=lambda s: None
    )
    client.tags.list()
    token = client.access_token()
    texts = [repr(client), repr(client._cached), repr(fake), repr(fake.calls)]
    fake.inject("timeout", times=4)
    with pytest.raises(WeChatTransportError) as timeout:
        client.tags.list()
    fake.expire_tokens()
    fake.inject("token_invalid", path="/cgi-bin/stable_token")
    with pytest.raises(CredentialError) as refused:
        client.tags.list()
    # A secret that differs from the right one only by a suffix must not leak either.
    rotated = Client(
        fake.appid,
        SECRET + "-old",
        http_client=httpx.Client(transport=transport),
        sleep=lambda s: None,
    )
    with pytest.raises(CredentialError) as credential:
        rotated.tags.list()
    texts.append(repr(rotated))
    for error in (timeout.value, refused.value, credential.value):
        texts += [str(error), repr(error), repr(error.args), str(error.__cause__)]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert SECRET not in text
        assert token not in text


def test_transport_error_scrubs_url_secrets() -> None:
    """An httpx error whose message names the URL loses the token and secret."""
    from wxsegment.api._core import transport_error

    error = httpx.ConnectError(f"failed https://x/?access_token=TOK123&secret={SECRET}")
    wrapped = transport_error(error, "/cgi-bin/token", SECRET, "TOK123")
    assert SECRET not in str(wrapped)
    assert "TOK123" not in str(wrapped)
    assert wrapped.kind == "connect"


# -- parity -------------------------------------------------------------------------------------

GROUPS = [
    "users",
    "tags",
    "qrcode",
    "mass",
    "messages",
    "menus",
    "media",
    "materials",
    "drafts",
    "publish",
    "templates",
    "subscribe_messages",
    "datacube",
    "quota",
    "blacklist",
    "kf",
]


def _public(obj: object) -> dict[str, object]:
    return {n: getattr(obj, n) for n in dir(obj) if not n.startswith("_")}


@pytest.mark.parametrize("group", GROUPS)
def test_sync_and_async_groups_have_the_same_methods(group: str) -> None:
    """Each resource group pair exposes the same methods with the same parameters."""
    sync_client = Client("wx", "s")
    async_client = AsyncClient("wx", "s")
    sync_group = _public(getattr(sync_client, group))
    async_group = _public(getattr(async_client, group))
    assert sorted(sync_group) == sorted(async_group)
    for name, method in sync_group.items():
        twin = async_group[name]
        if not callable(method):
            # Settings such as `limits` and `keyword_rules`: the same defaults on both.
            assert method == twin, name
            continue
        assert inspect.signature(method).parameters == inspect.signature(twin).parameters, name
        if inspect.isgeneratorfunction(method):
            assert inspect.isasyncgenfunction(twin), name
        elif name != "image_url":
            assert inspect.iscoroutinefunction(twin), name
    sync_client.close()


def test_clients_have_the_same_surface() -> None:
    """Client and AsyncClient expose the same groups and methods (close ↔ aclose)."""
    sync_names = set(_public(Client("wx", "s"))) - {"close"}
    async_names = set(_public(AsyncClient("wx", "s"))) - {"aclose", "concurrency"}
    assert sync_names == async_names


def test_all_is_exactly_the_public_names() -> None:
    """wxsegment.api.__all__ lists every public name it defines, and each has a docstring."""
    # Subpackages such as `callback` appear as attributes once imported; they are not re-exported.
    public = {
        n for n, v in vars(api_module).items() if not n.startswith("_") and not inspect.ismodule(v)
    } - {"annotations"}
    assert set(api_module.__all__) == public
    for name in api_module.__all__:
        value = getattr(api_module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, name


# -- pure functions ------------------------------------------------------------------------------


@given(st.lists(st.floats(0, 300), min_size=1, max_size=60), st.integers(1, 10))
def test_pacer_never_exceeds_the_window(gaps: list[float], per_minute: int) -> None:
    """Booked slots never put more than per_minute calls in any 60-second window."""
    pacer = Pacer(per_minute)
    now, slots = 0.0, []
    for gap in gaps:
        now += gap
        wait = pacer.reserve(now)
        assert wait >= 0
        now += wait
        slots.append(now)
    for i, start in enumerate(slots):
        assert sum(1 for s in slots[i:] if s < start + 60) <= per_minute


@given(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=32),
    st.integers(2, 2000),
)
def test_derived_ids_are_short_distinct_and_stable(base: str, count: int) -> None:
    """Chunk ids fit in 32 ASCII bytes, differ per chunk and are the same on every call."""
    ids = [derive_clientmsgid(base, i, count) for i in range(count)]
    assert len(set(ids)) == count
    assert all(len(i) <= 32 and i.isascii() for i in ids)
    assert ids == [derive_clientmsgid(base, i, count) for i in range(count)]
    assert derive_clientmsgid(base, 0, 1) == base


@given(st.integers(2, 50_000))
def test_balanced_chunks_respect_mass_limits(n: int) -> None:
    """Any list of ≥ 2 openids splits into chunks of 2..10,000 that concatenate back."""
    items = list(range(n))
    chunks = balanced_chunks(items, 10_000)
    assert all(2 <= len(c) <= 10_000 for c in chunks)
    assert [x for c in chunks for x in c] == items


def test_retry_policy_waits_grow_and_cap() -> None:
    """Waits double from ``initial`` up to ``maximum``, plus bounded jitter."""
    policy = RetryPolicy(attempts=6, initial=1, maximum=4, jitter=0.5)
    waits = [policy.wait(n, rng=lambda: 1.0) for n in range(1, 6)]
    assert waits == [1.5, 2.5, 4.5, 4.5, 4.5]


def test_async_client_spreads_requests_over_pools(fake: FakeWeChat) -> None:
    """An injected sequence of httpx clients is used round-robin."""
    seen: list[int] = []

    def transport(index: int) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(index)
            return fake.handler(request)

        return httpx.MockTransport(handle)

    pools = [httpx.AsyncClient(transport=transport(i)) for i in range(3)]
    client = AsyncClient(fake.appid, fake.secret, http_client=pools)
    openids = fake.add_followers(600)
    asyncio.run(client.users.get_many(openids))
    assert sorted(set(seen)) == [0, 1, 2]
    assert max(seen.count(i) for i in range(3)) - min(seen.count(i) for i in range(3)) <= 1


def test_refused_stable_token_is_force_refreshed(api: Harness, fake: FakeWeChat) -> None:
    """When stable_token hands back the refused token, one forced refresh replaces it."""
    api.run(lambda c: c.tags.list())
    first = api.run(lambda c: c.access_token())
    fake.inject("token_invalid", path="/cgi-bin/tags/get")
    api.run(lambda c: c.tags.list())
    token_bodies = [c.json for c in fake.calls if c.path == "/cgi-bin/stable_token"]
    assert [b["force_refresh"] for b in token_bodies] == [False, False, True]
    assert api.run(lambda c: c.access_token()) != first


@pytest.mark.parametrize(
    "error",
    [
        error_for(45065, "clientmsgid exist", "/cgi-bin/message/mass/send", {"msg_id": 7}),
        error_for(12345, "unknown", "/p"),
        WeChatHTTPStatusError(502, "/p"),
        WeChatTransportError("ReadTimeout: timed out", "/p", kind="timeout"),
    ],
)
def test_errors_survive_pickling(error: WeChatError) -> None:
    """Errors pickle and unpickle with their class and fields intact."""
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert repr(copy) == repr(error)
    assert dict(copy.payload) == dict(error.payload)
    assert getattr(copy, "kind", None) == getattr(error, "kind", None)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_file_store_serializes_refreshes_across_clients(
    tmp_path: Path, fake: FakeWeChat, kind: str
) -> None:
    """Clients with separate in-process locks but one FileTokenStore fetch a single token."""
    import threading
    import time

    barrier = threading.Barrier(4)

    def slow_tokens(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/token":
            time.sleep(0.05)
        return fake.handler(request)

    store = FileTokenStore(tmp_path)

    def run_one() -> None:
        barrier.wait()
        if kind == "sync":
            client = Client(
                fake.appid,
                fake.secret,
                token_store=store,
                token_endpoint="classic",
                http_client=httpx.Client(transport=httpx.MockTransport(slow_tokens)),
            )
            client.tags.list()
        else:
            aclient = AsyncClient(
                fake.appid,
                fake.secret,
                token_store=store,
                token_endpoint="classic",
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(slow_tokens)),
            )
            asyncio.run(aclient.tags.list())

    threads = [threading.Thread(target=run_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _token_fetches(fake) == 1
