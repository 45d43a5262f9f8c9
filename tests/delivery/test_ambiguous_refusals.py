"""Review regression: a refusal that follows a lost answer does not prove the job was not made."""

from __future__ import annotations

import pytest

from wxsegment import FixedClock
from wxsegment.api import Client, MinuteQuotaError, Text, WeChatError
from wxsegment.delivery import BatchOutcome, Campaign, execute, is_definite_refusal
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

MASS_SEND = "/cgi-bin/message/mass/send"


@pytest.mark.parametrize("second", ["mass_rate", "rate_limited", "token_invalid"])
def test_refusal_after_a_lost_answer_is_not_definite(
    fake: FakeWeChat, client: Client, second: str
) -> None:
    """Timeout after WeChat took the job, then a refusal on the retry: the outcome is unknown."""
    openids = fake.add_followers(4)
    fake.inject("timeout", path=MASS_SEND, after_processing=True)
    fake.inject(second, path=MASS_SEND, times=2)
    with pytest.raises(WeChatError) as caught:
        client.mass.send_to_openids(openids, Text("hi"), clientmsgid="lost-then-refused")
    assert len(fake.jobs) == 1
    assert not is_definite_refusal(caught.value)


def test_refusal_on_the_first_attempt_stays_definite(fake: FakeWeChat, client: Client) -> None:
    """45011 on the only attempt still proves nothing was created."""
    openids = fake.add_followers(4)
    fake.inject("mass_rate", path=MASS_SEND)
    with pytest.raises(MinuteQuotaError) as caught:
        client.mass.send_to_openids(openids, Text("hi"), clientmsgid="refused")
    assert fake.jobs == {}
    assert is_definite_refusal(caught.value)


def test_execute_keeps_a_batch_pending_when_its_retry_was_refused(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """The ledger keeps counting followers whose push WeChat took before a 45011 on the retry."""
    openids = fake.add_followers(4)
    fake.inject("timeout", path=MASS_SEND, after_processing=True)
    fake.inject("mass_rate", path=MASS_SEND)
    report = execute(client, ledger, Campaign("c", EVERYONE, Text("hi")), openids, now=clock.now())
    assert [b.outcome for b in report.batches] == [BatchOutcome.PENDING]
    assert all(fake.mass_received(o) == 1 for o in openids)
    assert all(ledger.usage(o, at=clock.now()).pending == 1 for o in openids)
