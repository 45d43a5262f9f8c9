"""`client.quota` against `FakeWeChat`: quotas, clear_quota's monthly pool, rids, IPs, checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    CLEAR_QUOTA_PER_MONTH,
    ApiQuota,
    ClearQuotaExhaustedError,
    CredentialError,
    DailyQuotaError,
    DnsResult,
    InvalidRequestError,
    MemoryClearQuotaLedger,
    MinuteQuotaError,
    TagError,
    WeChatValidationError,
    rid_of,
)
from wxsegment.testing import FakeConfig, FakeWeChat


def test_quota_get_counts_calls(api: Harness, fake: FakeWeChat) -> None:
    """openapi/quota/get reports the documented daily limit and the calls made today."""
    fake.add_followers(2)
    api.run(lambda c: c.users.iter_openids())
    quota = api.run(lambda c: c.quota.get("/cgi-bin/user/get"))
    # Two pages: the last one echoes its cursor and the next call answers no data.
    assert quota == ApiQuota("/cgi-bin/user/get", 500, 2, 498)


def test_quota_get_refuses_a_url(api: Harness, fake: FakeWeChat) -> None:
    """A full URL instead of a path is refused locally (WeChat would answer an error)."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.quota.get("https://api.weixin.qq.com/cgi-bin/user/get"))
    assert fake.calls == []


def test_unknown_cgi_path(api: Harness) -> None:
    """An API WeChat does not know answers 76021."""
    with pytest.raises(InvalidRequestError) as caught:
        api.run(lambda c: c.quota.get("/cgi-bin/no/such/api"))
    assert caught.value.errcode == 76021


def test_daily_quota_then_clear(kind: str, clock: FixedClock) -> None:
    """Past the daily quota WeChat answers 45009; clear_quota resets today's counters."""
    config = FakeConfig(daily_quotas={"/cgi-bin/tags/get": 2})
    fake = FakeWeChat(clock=clock, config=config)
    api = Harness(kind, fake, clock=clock)
    api.run(lambda c: c.tags.list())
    api.run(lambda c: c.tags.list())
    with pytest.raises(DailyQuotaError):
        api.run(lambda c: c.tags.list())
    api.run(lambda c: c.quota.clear())
    assert api.run(lambda c: c.tags.list())
    assert api.run(lambda c: c.quota.resets_booked()) == 1


def test_daily_quota_rolls_over_at_shanghai_midnight(kind: str, clock: FixedClock) -> None:
    """The daily counters start again on the next Asia/Shanghai day."""
    clock.set(datetime(2026, 3, 1, 23, 0, tzinfo=timezone(timedelta(hours=8))))
    fake = FakeWeChat(clock=clock, config=FakeConfig(daily_quotas={"/cgi-bin/tags/get": 1}))
    api = Harness(kind, fake, clock=clock)
    api.run(lambda c: c.tags.list())
    with pytest.raises(DailyQuotaError):
        api.run(lambda c: c.tags.list())
    clock.advance(timedelta(hours=1))
    assert api.run(lambda c: c.tags.list())


def test_minute_quota(kind: str, clock: FixedClock) -> None:
    """A per-minute quota answers 45011 until the minute has passed."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(minute_quotas={"/cgi-bin/tags/get": 1}))
    api = Harness(kind, fake, clock=clock)
    api.run(lambda c: c.tags.list())
    with pytest.raises(MinuteQuotaError):
        api.run(lambda c: c.tags.list())
    clock.advance(timedelta(seconds=61))
    assert api.run(lambda c: c.tags.list())


def test_eleventh_clear_is_refused_locally(api: Harness, fake: FakeWeChat) -> None:
    """After 10 resets in a month the client refuses the 11th without calling WeChat."""
    for _ in range(CLEAR_QUOTA_PER_MONTH):
        api.run(lambda c: c.quota.clear())
    with pytest.raises(ClearQuotaExhaustedError, match="refused locally"):
        api.run(lambda c: c.quota.clear())
    assert sum(c.path == "/cgi-bin/clear_quota" for c in fake.calls) == CLEAR_QUOTA_PER_MONTH


def test_resets_made_elsewhere_get_48006_and_fill_the_ledger(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock
) -> None:
    """A pool emptied by the web console answers 48006; the ledger then refuses locally."""
    ledger = MemoryClearQuotaLedger()
    api = make(clear_quota_ledger=ledger)
    for _ in range(CLEAR_QUOTA_PER_MONTH):
        fake.record_clear_quota()
    with pytest.raises(ClearQuotaExhaustedError) as caught:
        api.run(lambda c: c.quota.clear())
    assert caught.value.errcode == 48006
    assert ledger.used(fake.appid, "2026-03") == CLEAR_QUOTA_PER_MONTH
    calls = len(fake.calls)
    with pytest.raises(ClearQuotaExhaustedError, match="refused locally"):
        api.run(lambda c: c.quota.clear_with_secret())
    assert len(fake.calls) == calls


def test_ledger_months_are_natural_months(
    api: Harness, fake: FakeWeChat, clock: FixedClock
) -> None:
    """A new Shanghai month gives ten new resets."""
    for _ in range(CLEAR_QUOTA_PER_MONTH):
        api.run(lambda c: c.quota.clear())
    clock.set(datetime(2026, 4, 1, 0, 0, tzinfo=timezone(timedelta(hours=8))))
    api.run(lambda c: c.quota.clear())
    assert api.run(lambda c: c.quota.resets_booked()) == 1


def test_clear_with_secret_sends_no_token_and_logs_no_secret(
    api: Harness, fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    """clear_quota/v2 passes appid and appsecret in the query; log lines blank the secret."""
    caplog.set_level("DEBUG")
    api.run(lambda c: c.quota.clear_with_secret())
    call = next(c for c in fake.calls if c.path == "/cgi-bin/clear_quota/v2")
    assert "access_token" not in call.query
    assert fake.secret not in caplog.text


def test_wrong_appid_gives_the_reset_back(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock
) -> None:
    """An errcode other than 48006 means no reset was spent: the booking is undone."""
    api = make(secret="wrong-secret")
    with pytest.raises(CredentialError):
        api.run(lambda c: c.quota.clear_with_secret())
    assert api.run(lambda c: c.quota.resets_booked()) == 0


def test_rid_lookup(api: Harness, fake: FakeWeChat) -> None:
    """The rid of a failed call finds what WeChat recorded; the token never prints."""
    api.run(lambda c: c.tags.create("VIP"))
    with pytest.raises(TagError) as caught:
        api.run(lambda c: c.tags.create("VIP"))
    rid = rid_of(caught.value)
    assert rid is not None
    info = api.run(lambda c: c.quota.rid(rid))
    assert '"VIP"' in info.request_body
    assert "45157" in info.response_body
    assert "access_token=" in info.request_url
    token = info.request_url.split("access_token=")[1].split("&")[0]
    assert token not in repr(info)


def test_unknown_rid(api: Harness) -> None:
    """A rid WeChat does not know answers 76001."""
    with pytest.raises(InvalidRequestError) as caught:
        api.run(lambda c: c.quota.rid("00000000-nothing"))
    assert caught.value.errcode == 76001


def test_ip_lists_parse_addresses_and_ranges(api: Harness) -> None:
    """getcallbackip and get_api_domain_ip answers become networks (CIDR or single IP)."""
    ips = api.run(lambda c: c.quota.callback_ips())
    assert ipaddress.ip_network("101.226.103.0/25") in ips
    assert ipaddress.ip_address("101.226.62.77") in ips[1]
    assert api.run(lambda c: c.quota.api_domain_ips())


def test_callback_check(api: Harness) -> None:
    """callback/check reports DNS answers and pings; only the asked kind for dns/ping."""
    full = api.run(lambda c: c.quota.check_callback())
    assert full.dns
    assert full.ping[0].package_loss == "0%"
    dns = api.run(lambda c: c.quota.check_callback("dns", "UNICOM"))
    assert dns.dns == (DnsResult("203.0.113.10", "UNICOM"),)
    assert dns.ping == ()


def test_callback_check_without_url(kind: str, clock: FixedClock) -> None:
    """Without a configured callback URL WeChat answers 40201."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(callback_url=None))
    with pytest.raises(InvalidRequestError) as caught:
        Harness(kind, fake, clock=clock).run(lambda c: c.quota.check_callback())
    assert caught.value.errcode == 40201


@pytest.mark.parametrize(("action", "operator"), [("trace", "DEFAULT"), ("all", "MOBILE")])
def test_callback_check_choices_checked_locally(
    api: Harness, fake: FakeWeChat, action: str, operator: str
) -> None:
    """Unknown actions and operators are refused before the call."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.quota.check_callback(action, operator))
    assert fake.calls == []
