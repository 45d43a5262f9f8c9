"""Tools for testing code built on wxsegment, here and downstream.

`FakeWeChat` emulates WeChat's service-account HTTP API in process (for
``httpx.MockTransport``) or as an ASGI app; `FakeConfig` holds its knobs. Its content state
(media, drafts and publishing, templates) is reached through ``fake.media``, ``fake.content``
and ``fake.templates``.
`wxsegment.testing.strategies` holds hypothesis strategies (install the ``testing`` extra).
``httpx.MockTransport``) or as an ASGI app; `FakeConfig` holds its knobs. With
`FakeWeChat.set_callback` it pushes events to a callback endpoint; `FakeWeChat.follower`
returns a `FollowerActor` whose actions push them.
`wxsegment.testing.strategies` holds hypothesis strategies (install the ``testing`` extra);
`wxsegment.testing.event_strategies` holds strategies for streams of pushes and ``play``.
"""

from __future__ import annotations

from wxsegment.testing._fake import FakeASGIApp, FakeWeChat
from wxsegment.testing._fake_content import FakeContent, FakeDraft, PublishJob
from wxsegment.testing._fake_events import FollowerActor, PushAttempt, PushMode, PushResult
from wxsegment.testing._fake_kf import FakeKfAccount
from wxsegment.testing._fake_media import FakeFile, FakeMaterial, FakeMedia
from wxsegment.testing._fake_multipart import UploadedFile
from wxsegment.testing._fake_templates import (
    DEFAULT_SUBSCRIBE_LIBRARY,
    DEFAULT_TEMPLATE_LIBRARY,
    FakePrivateTemplate,
    FakeTemplates,
    LibraryKeyword,
    LibraryTemplate,
    LibraryTitle,
    SubscribeLibrary,
)
from wxsegment.testing._fake_types import (
    DEFAULT_WINDOW_RULES,
    FAULT_KINDS,
    FakeCall,
    FakeConfig,
    FakeFollower,
    FakeMessage,
    FakeQRCode,
    FakeTag,
    FaultKind,
    MassJob,
    WindowRule,
)

__all__ = [
    "DEFAULT_SUBSCRIBE_LIBRARY",
    "DEFAULT_TEMPLATE_LIBRARY",
    "DEFAULT_WINDOW_RULES",
    "FAULT_KINDS",
    "FakeASGIApp",
    "FakeCall",
    "FakeConfig",
    "FakeContent",
    "FakeDraft",
    "FakeFile",
    "FakeFollower",
    "FakeKfAccount",
    "FakeMaterial",
    "FakeMedia",
    "FakeMessage",
    "FakePrivateTemplate",
    "FakeQRCode",
    "FakeTag",
    "FakeTemplates",
    "FakeWeChat",
    "FaultKind",
    "FollowerActor",
    "LibraryKeyword",
    "LibraryTemplate",
    "LibraryTitle",
    "MassJob",
    "PublishJob",
    "PushAttempt",
    "PushMode",
    "PushResult",
    "SubscribeLibrary",
    "UploadedFile",
    "WindowRule",
]
