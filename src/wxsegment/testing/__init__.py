"""Tools for testing code built on wxsegment, here and downstream.

`FakeWeChat` emulates WeChat's service-account HTTP API in process (for
``httpx.MockTransport``) or as an ASGI app; `FakeConfig` holds its knobs.
`wxsegment.testing.strategies` holds hypothesis strategies (install the ``testing`` extra).
"""

from __future__ import annotations

from wxsegment.testing._fake import FakeASGIApp, FakeWeChat
from wxsegment.testing._fake_kf import FakeKfAccount
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
    "DEFAULT_WINDOW_RULES",
    "FAULT_KINDS",
    "FakeASGIApp",
    "FakeCall",
    "FakeConfig",
    "FakeFollower",
    "FakeKfAccount",
    "FakeMessage",
    "FakeQRCode",
    "FakeTag",
    "FakeWeChat",
    "FaultKind",
    "MassJob",
    "WindowRule",
]
