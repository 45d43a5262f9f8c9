"""The callback error tree; see the `wxsegment.api.callback` module docstring for the drawing."""

from __future__ import annotations

__all__ = [
    "AppIdMismatch",
    "CallbackError",
    "CallbackParseError",
    "DecryptError",
    "PayloadTooLarge",
    "ReplayedRequest",
    "SignatureError",
    "StaleRequest",
    "WrongAccount",
]


class CallbackError(ValueError):
    """Root of every error raised while checking or reading a WeChat push."""


class SignatureError(CallbackError):
    """The ``signature`` or ``msg_signature`` does not match: the request is not from WeChat."""


class DecryptError(CallbackError):
    """The ``Encrypt`` payload cannot be decrypted: not base64, truncated, or bad padding."""


class AppIdMismatch(DecryptError):
    """The payload decrypted, but it was sealed for another AppID."""


class CallbackParseError(CallbackError):
    """The XML is malformed, unsafe (DTD, entities, external references) or lacks a field."""


class PayloadTooLarge(CallbackParseError):
    """The body is larger than the configured limit; it was refused before parsing."""


class StaleRequest(SignatureError):
    """The signed ``timestamp`` is further from now than the endpoint's ``max_age``."""


class ReplayedRequest(SignatureError):
    """The same ``nonce``, ``timestamp`` and signature already carried a different push."""


class WrongAccount(CallbackError):
    """The push is addressed (``ToUserName``) to another account than the endpoint's."""
