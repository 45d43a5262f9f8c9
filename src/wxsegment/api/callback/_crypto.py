"""WeChat's safe-mode envelope: AES-256-CBC with a 32-byte PKCS#7 block and a trailing AppID.

Plaintext layout before padding: 16 random bytes, the message length as 4 bytes in network
order, the UTF-8 message, the AppID. The key is ``base64(EncodingAESKey + "=")``; the IV is its
first 16 bytes. ``msg_signature`` is the SHA-1 of the sorted token, timestamp, nonce and
ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from collections.abc import Callable
from typing import Final

import attrs

from wxsegment.api.callback._errors import (
    AppIdMismatch,
    CallbackParseError,
    DecryptError,
    SignatureError,
)
from wxsegment.api.callback._signature import matches, sign
from wxsegment.api.callback._xml import DEFAULT_MAX_SIZE, cdata, parse_xml, require_extra

__all__ = ["BLOCK_SIZE", "Decrypted", "MessageCrypto"]

#: WeChat pads to 32 bytes, not to AES's 16-byte block.
BLOCK_SIZE: Final = 32

_KEY_SHAPE: Final = re.compile(r"[A-Za-z0-9]{43}")
_PREFIX: Final = 16
_LENGTH: Final = struct.Struct(">I")


def _aes_key(encoding_aes_key: object, name: str) -> bytes:
    # Messages name the parameter and the rule, never the value: the key is a secret.
    if not isinstance(encoding_aes_key, str):
        raise TypeError(f"{name} must be a str, not {type(encoding_aes_key).__name__}")
    if _KEY_SHAPE.fullmatch(encoding_aes_key) is None:
        raise ValueError(f"{name} must be 43 characters from [A-Za-z0-9]")
    return base64.b64decode(encoding_aes_key + "=")


def _timestamp(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"timestamp must be a str or int, not {type(value).__name__}")
    text = str(value)
    if not text.isascii() or not text.isdigit():
        raise ValueError("timestamp must be a non-negative integer")
    return text


def _nonce(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"nonce must be a str, not {type(value).__name__}")
    return value


@attrs.frozen
class Decrypted:
    """A decrypted push: the plaintext ``xml`` and whether the previous key opened it.

    Answer with ``MessageCrypto.encrypt(..., use_previous_key=used_previous_key)``.
    """

    xml: str
    used_previous_key: bool = False


class MessageCrypto:
    """Seal and open WeChat's encrypted envelope for one account (safe and compatible modes).

    ``previous_encoding_aes_key`` keeps pushes readable while WeChat switches to a new key;
    ``max_size`` bounds the body; ``random_bytes`` supplies the 16-byte prefix of each reply.
    Neither the token nor the keys appear in the repr or in any error message.
    """

    __slots__ = ("_appid", "_keys", "_max_size", "_random", "_token")

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        appid: str,
        *,
        previous_encoding_aes_key: str | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty str")
        if not isinstance(appid, str) or not appid or not appid.isascii():
            raise ValueError("appid must be a non-empty ASCII str")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError("max_size must be a positive int")
        keys = [_aes_key(encoding_aes_key, "encoding_aes_key")]
        if previous_encoding_aes_key is not None:
            keys.append(_aes_key(previous_encoding_aes_key, "previous_encoding_aes_key"))
        self._token = token
        self._appid = appid.encode("ascii")
        self._keys = tuple(keys)
        self._max_size = max_size
        self._random = random_bytes

    def __repr__(self) -> str:
        rotating = len(self._keys) > 1
        return f"MessageCrypto(appid={self._appid.decode()!r}, rotating={rotating})"

    @property
    def appid(self) -> str:
        """The AppID every envelope must carry."""
        return self._appid.decode("ascii")

    def decrypt(
        self, xml: str | bytes, *, msg_signature: str, timestamp: str | int, nonce: str
    ) -> str:
        """The plaintext XML of an encrypted push, after checking ``msg_signature``.

        Raises `SignatureError`, `DecryptError` (`AppIdMismatch`) or `CallbackParseError`.
        """
        return self.decrypt_detailed(
            xml, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce
        ).xml

    def decrypt_detailed(
        self, xml: str | bytes, *, msg_signature: str, timestamp: str | int, nonce: str
    ) -> Decrypted:
        """Like `decrypt`, also telling which key opened the envelope (for the reply)."""
        root = parse_xml(xml, max_size=self._max_size)
        node = root.find("Encrypt")
        if node is None or len(node) or not (node.text or "").strip():
            raise CallbackParseError("encrypted push has no <Encrypt> text")
        encrypted = (node.text or "").strip()
        # The request's own timestamp, unvalidated: a malformed one just fails the signature.
        expected = sign(self._token, timestamp, _nonce(nonce), encrypted)
        if not matches(expected, msg_signature):
            raise SignatureError("msg_signature does not match the encrypted payload")
        return self._open(encrypted)

    def decrypt_payload(self, encrypted: str) -> Decrypted:
        """Open a bare base64 ``Encrypt`` value whose signature the caller has already checked."""
        if not isinstance(encrypted, str):
            raise TypeError(f"encrypted must be a str, not {type(encrypted).__name__}")
        return self._open(encrypted.strip())

    def _open(self, encrypted: str) -> Decrypted:
        try:
            sealed = base64.b64decode(encrypted.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise DecryptError("Encrypt is not base64") from None
        if not sealed or len(sealed) % BLOCK_SIZE:
            raise DecryptError(
                f"ciphertext is truncated: {len(sealed)} bytes, not a multiple of {BLOCK_SIZE}"
            )
        failures: list[DecryptError] = []
        for index, key in enumerate(self._keys):
            try:
                return Decrypted(self._unseal(key, sealed), used_previous_key=index > 0)
            except DecryptError as error:
                failures.append(error)
        # A wrong AppID means some key opened the envelope: the most telling failure.
        mismatch = [error for error in failures if isinstance(error, AppIdMismatch)]
        raise (mismatch or failures)[0]

    def _unseal(self, key: bytes, sealed: bytes) -> str:
        with require_extra("cryptography"):
            from cryptography.hazmat.primitives import padding
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        padded = decryptor.update(sealed) + decryptor.finalize()
        unpadder = padding.PKCS7(BLOCK_SIZE * 8).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise DecryptError("bad padding: wrong key or corrupted ciphertext") from None
        header = _PREFIX + _LENGTH.size
        if len(plain) < header:
            raise DecryptError("plaintext is truncated: no length field")
        (length,) = _LENGTH.unpack_from(plain, _PREFIX)
        if header + length > len(plain):
            raise DecryptError("plaintext is truncated: shorter than its length field")
        appid = plain[header + length :]
        if appid != self._appid:
            raise AppIdMismatch("envelope was sealed for another AppID")
        try:
            return plain[header : header + length].decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError("decrypted message is not UTF-8") from None

    def encrypt(
        self, xml: str, *, timestamp: str | int, nonce: str, use_previous_key: bool = False
    ) -> str:
        """``xml`` sealed in WeChat's reply envelope (``Encrypt``, ``MsgSignature``, ...).

        ``use_previous_key`` answers a push that only the previous key could open.
        """
        stamp, once = _timestamp(timestamp), _nonce(nonce)
        encrypted = self.encrypt_payload(xml, use_previous_key=use_previous_key)
        signature = sign(self._token, stamp, once, encrypted)
        return (
            f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{stamp}</TimeStamp><Nonce>{cdata(once, 'nonce')}</Nonce></xml>"
        )

    def encrypt_payload(self, xml: str, *, use_previous_key: bool = False) -> str:
        """The bare base64 ciphertext of ``xml`` (the ``Encrypt`` value), without a signature."""
        if not isinstance(xml, str):
            raise TypeError(f"xml must be a str, not {type(xml).__name__}")
        if use_previous_key and len(self._keys) < 2:
            raise ValueError("use_previous_key needs a previous_encoding_aes_key")
        try:
            message = xml.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("xml must be encodable as UTF-8") from None
        key = self._keys[1 if use_previous_key else 0]
        prefix = self._random(_PREFIX)
        if len(prefix) != _PREFIX:
            raise ValueError(f"random_bytes must return {_PREFIX} bytes")
        plain = prefix + _LENGTH.pack(len(message)) + message + self._appid
        with require_extra("cryptography"):
            from cryptography.hazmat.primitives import padding
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        padder = padding.PKCS7(BLOCK_SIZE * 8).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        sealed = encryptor.update(padded) + encryptor.finalize()
        return base64.b64encode(sealed).decode("ascii")
