"""WeChat's SHA-1 request signatures and the ``echostr`` handshake."""

from __future__ import annotations

import hashlib
import hmac

from wxsegment.api.callback._errors import SignatureError

__all__ = ["echostr_response", "matches", "sign", "verify_signature"]


def _text(value: object, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return str(value)


def _utf8(value: str) -> bytes:
    # Lone surrogates cannot come from a real request, but must not crash the comparison.
    return value.encode("utf-8", "surrogatepass")


def sign(*parts: str | int) -> str:
    """SHA-1 hex digest of the parts sorted as strings and concatenated (WeChat's signature)."""
    texts = sorted(_text(part, "signature part") for part in parts)
    return hashlib.sha1(_utf8("".join(texts))).hexdigest()


def matches(expected: str, given: object) -> bool:
    """Constant-time comparison of a computed signature with the one received."""
    if not isinstance(given, str):
        raise TypeError(f"signature must be a str, not {type(given).__name__}")
    return hmac.compare_digest(_utf8(expected), _utf8(given))


def verify_signature(token: str, timestamp: str | int, nonce: str, signature: str) -> bool:
    """True when ``signature`` is the SHA-1 of the sorted token, timestamp and nonce.

    The comparison takes constant time. Applies to the URL handshake and to every plain push.
    """
    expected = sign(_text(token, "token"), _text(timestamp, "timestamp"), _text(nonce, "nonce"))
    return matches(expected, signature)


def echostr_response(
    token: str, *, signature: str, timestamp: str | int, nonce: str, echostr: str
) -> str:
    """The body to answer WeChat's URL-verification GET with: ``echostr`` itself, if signed.

    Raises `SignatureError` when the signature does not match.
    """
    if not verify_signature(token, timestamp, nonce, signature):
        raise SignatureError("signature does not match token, timestamp and nonce")
    return _text(echostr, "echostr")
