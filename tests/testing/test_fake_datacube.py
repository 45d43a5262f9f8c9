"""FakeWeChat's /datacube/* endpoints on the wire: date rules and row shapes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.testing.conftest import Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import FakeWeChat

# The fixture clock is 2026-05-20 12:00 in Shanghai: yesterday is 2026-05-19.


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"begin_date": "2026-05-12", "end_date": "2026-05-19"}, 61501),
        ({"begin_date": "2026-05-20", "end_date": "2026-05-20"}, 61501),
        ({"begin_date": "2026-05-19", "end_date": "2026-05-18"}, 61501),
        ({"begin_date": "2026/05/19", "end_date": "2026-05-19"}, 61500),
        ({"end_date": "2026-05-19"}, 61500),
    ],
)
def test_bad_ranges_get_wechats_errcodes(wire: Wire, body: dict[str, str], code: int) -> None:
    """Too wide, too recent or reversed ranges answer 61501; malformed dates 61500."""
    assert errcode(wire.post("/datacube/getusersummary", body)) == code


def test_rows_have_wechats_shape(wire: Wire, fake: FakeWeChat, clock: FixedClock) -> None:
    """getusercumulate answers {"list": [{ref_date, user_source, cumulate_user}]}."""
    fake.add_follower("oOld", subscribe_time=clock.now() - timedelta(days=3))
    answer = wire.post(
        "/datacube/getusercumulate", {"begin_date": "2026-05-19", "end_date": "2026-05-19"}
    )
    assert answer == {"list": [{"ref_date": "2026-05-19", "user_source": 0, "cumulate_user": 1}]}


def test_article_reads_need_an_mpnews_job(fake: FakeWeChat) -> None:
    """read_article refuses a msg_id that is not a mass-sent article."""
    with pytest.raises(ValueError, match="no mass-sent article"):
        fake.read_article("oA", 12345)


def test_faults_reach_datacube_paths(wire: Wire, fake: FakeWeChat) -> None:
    """inject(path="/datacube/...") matches the datacube endpoint, not a /cgi-bin one."""
    fake.inject("busy", path="/datacube/getusercumulate")
    body = {"begin_date": "2026-05-19", "end_date": "2026-05-19"}
    assert errcode(wire.post("/datacube/getusercumulate", body)) == -1
    assert errcode(wire.post("/datacube/getusercumulate", body)) == 0
