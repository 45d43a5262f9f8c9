"""The fake's customer-service (客服) accounts: ``/customservice/kfaccount/*`` and the two
``/cgi-bin/customservice/*`` lists.

Accounts are ``prefix@<the account's WeChat ID>`` (`FakeConfig.wechat_id`); a message sent
with ``customservice.kf_account`` must name an existing account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment.testing._fake_wire import Reply, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat

__all__ = ["FakeCustomerService", "FakeKfAccount"]

_PREFIX: Final = re.compile(r"[A-Za-z0-9_]{1,10}")
#: UNCONFIRMED: how long an invitation to bind an account stays open.
_INVITE_TTL: Final = timedelta(days=7)


@attrs.frozen(kw_only=True)
class FakeKfAccount:
    """A snapshot of one customer-service account."""

    kf_account: str
    kf_nick: str
    kf_id: int
    kf_wx: str = ""
    invite_wx: str = ""
    invite_expire_time: datetime | None = None
    online: bool = False
    accepted_case: int = 0


class FakeCustomerService:
    """Customer-service accounts of the fake account."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self.accounts: dict[str, FakeKfAccount] = {}
        self._next_id = 1001

    def check_format(self, kf_account: object) -> str:
        """65404 unless ``prefix@<wechat_id>`` of this account, at most 30 characters."""
        if not isinstance(kf_account, str) or len(kf_account) > 30:
            raise Reply(65404)
        prefix, at, suffix = kf_account.partition("@")
        if not at or not _PREFIX.fullmatch(prefix) or suffix != self._fake.config.wechat_id:
            raise Reply(65404)
        return kf_account

    def existing(self, kf_account: object) -> FakeKfAccount:
        """An existing account (65401 otherwise)."""
        account = self.accounts.get(self.check_format(kf_account))
        if account is None:
            raise Reply(65401)
        return account

    def _nickname(self, body: Mapping[str, Any]) -> str:
        nickname = get_str(body, "nickname", 65403)
        if len(nickname) > 16:
            raise Reply(65403)
        return nickname

    def add(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``kfaccount/add``."""
        kf_account = self.check_format(body.get("kf_account"))
        nickname = self._nickname(body)
        if kf_account in self.accounts:
            raise Reply(65406)
        if len(self.accounts) >= self._fake.config.max_kf_accounts:
            raise Reply(65405)
        self.accounts[kf_account] = FakeKfAccount(
            kf_account=kf_account, kf_nick=nickname, kf_id=self._next_id
        )
        self._next_id += 1
        return {"errcode": 0, "errmsg": "ok"}

    def update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``kfaccount/update``."""
        account = self.existing(body.get("kf_account"))
        self.accounts[account.kf_account] = attrs.evolve(account, kf_nick=self._nickname(body))
        return {"errcode": 0, "errmsg": "ok"}

    def delete(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        """``kfaccount/del``: POST JSON (current docs) or GET ``?kf_account=`` (legacy SDKs)."""
        account = self.existing(body.get("kf_account", query.get("kf_account")))
        del self.accounts[account.kf_account]
        return {"errcode": 0, "errmsg": "ok"}

    def invite(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``kfaccount/inviteworker``: the invitee must not operate another account."""
        account = self.existing(body.get("kf_account"))
        invite_wx = get_str(body, "invite_wx", 40035)
        if any(a.kf_wx == invite_wx for a in self.accounts.values()):
            raise Reply(65407)
        self.accounts[account.kf_account] = attrs.evolve(
            account, invite_wx=invite_wx, invite_expire_time=now + _INVITE_TTL
        )
        return {"errcode": 0, "errmsg": "ok"}

    def accept(self, kf_account: str, now: datetime) -> None:
        """The invited WeChat user accepts: the account is bound to them."""
        account = self.accounts.get(kf_account)
        if account is None or not account.invite_wx:
            raise ValueError(f"no open invitation for {kf_account!r}")
        if account.invite_expire_time is not None and now >= account.invite_expire_time:
            raise ValueError(f"the invitation for {kf_account!r} has expired")
        self.accounts[kf_account] = attrs.evolve(
            account, kf_wx=account.invite_wx, invite_wx="", invite_expire_time=None
        )

    def list(self, now: datetime) -> dict[str, Any]:
        """``getkflist``."""
        items = []
        for account in self.accounts.values():
            item: dict[str, Any] = {
                "kf_account": account.kf_account,
                "kf_nick": account.kf_nick,
                "kf_id": account.kf_id,
                "kf_headimgurl": f"http://mmbiz.qpic.cn/mmbiz/fake{account.kf_id}/0",
            }
            if account.kf_wx:
                item["kf_wx"] = account.kf_wx
            if account.invite_wx and account.invite_expire_time is not None:
                expired = now >= account.invite_expire_time
                item.update(
                    invite_wx=account.invite_wx,
                    invite_expire_time=int(account.invite_expire_time.timestamp()),
                    invite_status="expired" if expired else "waiting",
                )
            items.append(item)
        return {"kf_list": items}

    def online(self) -> dict[str, Any]:
        """``getonlinekflist``."""
        return {
            "kf_online_list": [
                {
                    "kf_account": a.kf_account,
                    "status": 1,
                    "kf_id": a.kf_id,
                    "accepted_case": a.accepted_case,
                }
                for a in self.accounts.values()
                if a.online
            ]
        }
