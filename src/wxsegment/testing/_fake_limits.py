"""Content checks of the fake's message endpoints: sizes of customer-service messages and
the media ids messages name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from wxsegment.testing._fake_types import FakeConfig
from wxsegment.testing._fake_wire import Reply

__all__ = ["check_custom_sizes", "check_media"]


def check_custom_sizes(config: FakeConfig, body: Mapping[str, Any], msgtype: str) -> None:
    """45002 for over-long text; 45003 / 45004 for a news title / description too long.

    The body's shape was checked before; the limits are `FakeConfig` options (UNCONFIRMED).
    """
    if msgtype == "text":
        content = body["text"]["content"]
        if len(content.encode("utf-8")) > config.custom_text_max_bytes:
            raise Reply(45002)
    elif msgtype == "news":
        article = body["news"]["articles"][0]
        if len(str(article.get("title", ""))) > config.custom_news_title_max_chars:
            raise Reply(45003)
        if len(str(article.get("description", ""))) > config.custom_news_description_max_chars:
            raise Reply(45004)


def check_media(
    config: FakeConfig,
    media: Mapping[str, datetime | None],
    body: Mapping[str, Any],
    msgtype: str,
    now: datetime,
) -> None:
    """40007 for a media id that was never registered or has expired (``check_media_ids``)."""
    if not config.check_media_ids:
        return
    payload = body.get("images" if msgtype == "image" and "images" in body else msgtype)
    if not isinstance(payload, dict):
        return
    ids = [payload.get(key) for key in ("media_id", "thumb_media_id") if key in payload]
    ids += list(payload.get("media_ids") or ())
    for media_id in ids:
        if not isinstance(media_id, str) or media_id not in media:
            raise Reply(40007)
        expires = media[media_id]
        if expires is not None and now >= expires:
            raise Reply(40007, "media expired")
