"""Customer-service (客服) accounts: add, update, delete, list, online list, invite, typing.

Account management lives under ``/customservice/kfaccount/*`` (no ``/cgi-bin``) while the two
lists live under ``/cgi-bin/customservice/*``. ``kf_account`` is ``prefix@wechat_id``, checked
locally; nicknames are at most 16 characters.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from wxsegment.api._core import Call, check_kf_account
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._messaging import typing_call

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "KF_NICKNAME_MAX_CHARS",
    "AsyncCustomerService",
    "CustomerService",
    "KfAccount",
    "KfOnline",
]

#: A customer-service nickname is at most 16 characters.
KF_NICKNAME_MAX_CHARS: Final = 16

InviteStatus = Literal["", "waiting", "rejected", "expired"]


@attrs.frozen
class KfAccount:
    """One customer-service account from ``getkflist``.

    ``kf_wx`` is the WeChat user bound to it ("" until an invitation is accepted);
    ``invite_status`` is ``waiting``, ``rejected``, ``expired`` or "".
    """

    kf_account: str
    kf_nick: str
    kf_id: int
    kf_headimgurl: str = ""
    kf_wx: str = ""
    invite_wx: str = ""
    invite_expire_time: datetime | None = None
    invite_status: str = ""

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> KfAccount:
        """Parse one ``kf_list`` item."""
        expire = data.get("invite_expire_time")
        return cls(
            str(data.get("kf_account", "")),
            str(data.get("kf_nick", "")),
            int(data.get("kf_id", 0)),
            str(data.get("kf_headimgurl", "")),
            str(data.get("kf_wx", "")),
            str(data.get("invite_wx", "")),
            datetime.fromtimestamp(int(expire), timezone.utc) if expire else None,
            str(data.get("invite_status", "")),
        )


@attrs.frozen
class KfOnline:
    """One online account from ``getonlinekflist``: ``status`` and sessions being served."""

    kf_account: str
    status: int
    kf_id: int
    accepted_case: int

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> KfOnline:
        """Parse one ``kf_online_list`` item."""
        return cls(
            str(data.get("kf_account", "")),
            int(data.get("status", 0)),
            int(data.get("kf_id", 0)),
            int(data.get("accepted_case", 0)),
        )


def _nickname(nickname: str) -> str:
    if not isinstance(nickname, str):
        raise TypeError(f"nickname must be a str, not {type(nickname).__name__}")
    if not 1 <= len(nickname) <= KF_NICKNAME_MAX_CHARS:
        raise WeChatValidationError(
            f"nickname must be 1..{KF_NICKNAME_MAX_CHARS} characters, got {len(nickname)}"
        )
    return nickname


def account_call(action: str, kf_account: str, nickname: str) -> Call:
    """``POST /customservice/kfaccount/add`` or ``/update``."""
    body = {"kf_account": check_kf_account(kf_account), "nickname": _nickname(nickname)}
    # Adding twice answers 65406; updating twice is harmless.
    return Call(
        "POST", f"/customservice/kfaccount/{action}", body=body, replayable=action == "update"
    )


def delete_call(kf_account: str) -> Call:
    """``POST /customservice/kfaccount/del`` with a JSON body (the current documented form)."""
    body = {"kf_account": check_kf_account(kf_account)}
    return Call("POST", "/customservice/kfaccount/del", body=body, replayable=False)


def invite_call(kf_account: str, invite_wx: str) -> Call:
    """``POST /customservice/kfaccount/inviteworker``."""
    if not isinstance(invite_wx, str) or not invite_wx or invite_wx != invite_wx.strip():
        raise WeChatValidationError(f"invite_wx must be a WeChat ID, got {invite_wx!r}")
    body = {"kf_account": check_kf_account(kf_account), "invite_wx": invite_wx}
    return Call("POST", "/customservice/kfaccount/inviteworker", body=body)


_LIST: Final = Call("GET", "/cgi-bin/customservice/getkflist")
_ONLINE: Final = Call("GET", "/cgi-bin/customservice/getonlinekflist")


def parse_accounts(data: Mapping[str, Any]) -> list[KfAccount]:
    """The accounts of a ``getkflist`` answer."""
    return [KfAccount.from_wechat(item) for item in data.get("kf_list", ())]


def parse_online(data: Mapping[str, Any]) -> list[KfOnline]:
    """The accounts of a ``getonlinekflist`` answer."""
    return [KfOnline.from_wechat(item) for item in data.get("kf_online_list", ())]


class CustomerService:
    """Customer-service accounts (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, kf_account: str, nickname: str) -> None:
        """Add an account ``prefix@wechat_id`` (``POST /customservice/kfaccount/add``)."""
        self._client._request(account_call("add", kf_account, nickname))

    def update(self, kf_account: str, nickname: str) -> None:
        """Rename an account (``POST /customservice/kfaccount/update``)."""
        self._client._request(account_call("update", kf_account, nickname))

    def delete(self, kf_account: str) -> None:
        """Delete an account (``POST /customservice/kfaccount/del``)."""
        self._client._request(delete_call(kf_account))

    def invite(self, kf_account: str, invite_wx: str) -> None:
        """Invite a WeChat user to operate an account (``kfaccount/inviteworker``)."""
        self._client._request(invite_call(kf_account, invite_wx))

    def list(self) -> list[KfAccount]:
        """Every account (``GET /cgi-bin/customservice/getkflist``)."""
        return parse_accounts(self._client._request(_LIST))

    def online(self) -> builtins.list[KfOnline]:
        """Accounts online now (``GET /cgi-bin/customservice/getonlinekflist``)."""
        return parse_online(self._client._request(_ONLINE))

    def typing(self, openid: str, typing: bool = True) -> None:
        """Show (or cancel) "typing…" to a follower (``message/custom/typing``)."""
        self._client._request(typing_call(openid, typing))


class AsyncCustomerService:
    """Customer-service accounts (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def add(self, kf_account: str, nickname: str) -> None:
        """Add an account ``prefix@wechat_id`` (``POST /customservice/kfaccount/add``)."""
        await self._client._request(account_call("add", kf_account, nickname))

    async def update(self, kf_account: str, nickname: str) -> None:
        """Rename an account (``POST /customservice/kfaccount/update``)."""
        await self._client._request(account_call("update", kf_account, nickname))

    async def delete(self, kf_account: str) -> None:
        """Delete an account (``POST /customservice/kfaccount/del``)."""
        await self._client._request(delete_call(kf_account))

    async def invite(self, kf_account: str, invite_wx: str) -> None:
        """Invite a WeChat user to operate an account (``kfaccount/inviteworker``)."""
        await self._client._request(invite_call(kf_account, invite_wx))

    async def list(self) -> list[KfAccount]:
        """Every account (``GET /cgi-bin/customservice/getkflist``)."""
        return parse_accounts(await self._client._request(_LIST))

    async def online(self) -> builtins.list[KfOnline]:
        """Accounts online now (``GET /cgi-bin/customservice/getonlinekflist``)."""
        return parse_online(await self._client._request(_ONLINE))

    async def typing(self, openid: str, typing: bool = True) -> None:
        """Show (or cancel) "typing…" to a follower (``message/custom/typing``)."""
        await self._client._request(typing_call(openid, typing))
