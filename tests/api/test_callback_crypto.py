"""Tests of MessageCrypto: WeChat's AES envelope, its signature, key rotation and every failure.

Vectors are built here step by step from the documented layout with `cryptography`'s raw AES
(padding written by hand), never with the library under test.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.api.callback import (
    AppIdMismatch,
    CallbackError,
    CallbackParseError,
    Decrypted,
    DecryptError,
    MessageCrypto,
    PayloadTooLarge,
    SignatureError,
    parse,
)

TOKEN = "spamtoken"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OLD_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
APPID = "wx1234567890abcdef"

TIMESTAMPS = st.integers(min_value=0, max_value=2**40).map(str)
NONCES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=32)
# Any text XML can carry (the envelope itself carries any UTF-8).
PAYLOADS = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key: base64 of the 43 characters plus one '='."""
    key = base64.b64decode(encoding_aes_key + "=")
    assert len(key) == 32
    return key


def seal(
    message: bytes,
    *,
    key: str = KEY,
    appid: bytes = APPID.encode(),
    prefix: bytes = b"0123456789abcdef",
    length: int | None = None,
    pad: bytes | None = None,
) -> str:
    """Build an Encrypt value by hand: prefix, big-endian length, message, appid, 32-byte pad."""
    body = prefix + struct.pack(">I", len(message) if length is None else length)
    body += message + appid
    if pad is None:
        count = 32 - len(body) % 32
        pad = bytes([count]) * count
    body += pad
    raw = aes_key(key)
    encryptor = Cipher(algorithms.AES(raw), modes.CBC(raw[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def unseal(encrypted: str, *, key: str = KEY) -> tuple[bytes, bytes, bytes]:
    """Open an Encrypt value by hand: (random prefix, message, appid), checking the padding."""
    raw = aes_key(key)
    data = base64.b64decode(encrypted, validate=True)
    assert len(data) % 32 == 0
    decryptor = Cipher(algorithms.AES(raw), modes.CBC(raw[:16])).decryptor()
    body = decryptor.update(data) + decryptor.finalize()
    count = body[-1]
    assert 1 <= count <= 32
    assert body[-count:] == bytes([count]) * count
    body = body[:-count]
    (length,) = struct.unpack(">I", body[16:20])
    return body[:16], body[20 : 20 + length], body[20 + length :]


def signature(*parts: str) -> str:
    """msg_signature: SHA-1 of the parts in sorted order, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def envelope(encrypted: str) -> str:
    """A safe-mode push body."""
    head = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
    return f"{head}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"


def crypto(**kwargs: object) -> MessageCrypto:
    """The MessageCrypto under test, for TOKEN, KEY and APPID."""
    return MessageCrypto(TOKEN, KEY, APPID, **kwargs)  # type: ignore[arg-type]


def open_push(box: MessageCrypto, encrypted: str, ts: str = "1700000000", nonce: str = "n") -> str:
    """Decrypt a push whose signature is computed here."""
    return box.decrypt(
        envelope(encrypted),
        msg_signature=signature(TOKEN, ts, nonce, encrypted),
        timestamp=ts,
        nonce=nonce,
    )


def fields_of_reply(reply: str) -> dict[str, str]:
    """Encrypt, MsgSignature, TimeStamp and Nonce of a reply envelope."""
    found = dict(re.findall(r"<(\w+)>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</\1>", reply[5:-6]))
    assert set(found) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    return found


def test_hand_built_envelope_decrypts() -> None:
    """A ciphertext built by hand from the documented layout decrypts to its message."""
    message = "<xml><Content><![CDATA[你好, world]]></Content></xml>"
    encrypted = seal(message.encode())
    assert open_push(crypto(), encrypted) == message


def test_published_vector_decrypts() -> None:
    """A vector published with an independent implementation (WeCom uses the same envelope)."""
    encrypted = (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
        "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
        "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
        "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
        "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
    )
    box = MessageCrypto(
        "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
    )
    plain = box.decrypt(
        f"<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>",
        msg_signature="74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        timestamp="1411525903",
        nonce="461056294",
    )
    message = parse(plain)
    assert message.from_user_name == "messense"
    assert message.fields["Content"] == "test"
    assert message.fields["MsgId"] == "4363689963896700987"


def test_published_vector_encrypts() -> None:
    """With the published fixed random prefix, encrypt reproduces the published envelope."""
    reply = (
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
        "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
        "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
        "<CreateTime>1411525903</CreateTime>\n</xml>"
    )
    box = MessageCrypto(
        "123456",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "wx49f0ab532d5d035a",
        random_bytes=lambda n: b"1234567890123456"[:n],
    )
    found = fields_of_reply(box.encrypt(reply, timestamp="1411525903", nonce="461056294"))
    assert found["Encrypt"] == (
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNc"
        "BqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY"
        "0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsV"
        "bwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAG"
        "VRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    )
    assert found["MsgSignature"] == "407518b7649e86ef23978113f92d27afa9296533"


def test_encrypt_follows_documented_layout() -> None:
    """encrypt's output opens by hand: random prefix, length, message, appid, signed reply."""
    message = "<xml><Content><![CDATA[回复]]></Content></xml>"
    reply = crypto().encrypt(message, timestamp=1700000001, nonce="abc")
    found = fields_of_reply(reply)
    assert found["TimeStamp"] == "1700000001"
    assert found["Nonce"] == "abc"
    assert found["MsgSignature"] == signature(TOKEN, "1700000001", "abc", found["Encrypt"])
    prefix, body, appid = unseal(found["Encrypt"])
    assert len(prefix) == 16
    assert body.decode() == message
    assert appid == APPID.encode()


def test_random_prefix_differs_between_replies() -> None:
    """Two encryptions of one message differ (fresh random prefix each time)."""
    box = crypto()
    first = fields_of_reply(box.encrypt("<xml/>", timestamp="1", nonce="n"))["Encrypt"]
    second = fields_of_reply(box.encrypt("<xml/>", timestamp="1", nonce="n"))["Encrypt"]
    assert first != second
    assert unseal(first)[0] != unseal(second)[0]


@given(message=PAYLOADS, timestamp=TIMESTAMPS, nonce=NONCES)
def test_round_trip(message: str, timestamp: str, nonce: str) -> None:
    """decrypt(encrypt(x)) == x for any text, timestamp and nonce; the reply is signed."""
    box = crypto()
    reply = box.encrypt(message, timestamp=timestamp, nonce=nonce)
    found = fields_of_reply(reply)
    # The reply envelope is itself a valid push body for decrypt (it carries <Encrypt>).
    plain = box.decrypt(
        reply, msg_signature=found["MsgSignature"], timestamp=timestamp, nonce=nonce
    )
    assert plain == message
    assert unseal(found["Encrypt"])[1] == message.encode()


@given(message=PAYLOADS)
def test_hand_sealed_round_trip(message: str) -> None:
    """Anything sealed by hand with a random prefix decrypts to the same text."""
    encrypted = seal(message.encode(), prefix=os.urandom(16))
    assert open_push(crypto(), encrypted) == message


@given(message=st.binary(max_size=100), keep=st.integers(min_value=0))
def test_truncated_ciphertext_always_raises(message: bytes, keep: int) -> None:
    """Any strict prefix of a ciphertext raises DecryptError (truncated, padding or appid)."""
    data = base64.b64decode(seal(message))
    broken = data[: keep % len(data)]
    with pytest.raises(DecryptError):
        crypto().decrypt_payload(base64.b64encode(broken).decode())


@given(message=st.binary(max_size=100), at=st.integers(min_value=0), bit=st.integers(0, 7))
def test_flipped_bit_raises_only_decrypt_error(message: bytes, at: int, bit: int) -> None:
    """A flipped ciphertext bit yields a DecryptError or some text, never another exception.

    CBC alone does not authenticate: integrity comes from msg_signature, checked first.
    """
    data = bytearray(base64.b64decode(seal(message)))
    data[at % len(data)] ^= 1 << bit
    try:
        result = crypto().decrypt_payload(base64.b64encode(bytes(data)).decode())
    except DecryptError:
        return
    assert isinstance(result.xml, str)


def test_forged_signature_raises() -> None:
    """A msg_signature that does not cover the payload raises SignatureError."""
    encrypted = seal(b"<xml/>")
    good = signature(TOKEN, "1", "n", encrypted)
    with pytest.raises(SignatureError):
        crypto().decrypt(
            envelope(encrypted), msg_signature=good[:-1] + "0", timestamp="1", nonce="n"
        )
    with pytest.raises(SignatureError):
        crypto().decrypt(envelope(encrypted), msg_signature=good, timestamp="2", nonce="n")
    with pytest.raises(SignatureError):
        crypto().decrypt(envelope(encrypted), msg_signature="签名", timestamp="1", nonce="n")


def test_malformed_request_timestamp_is_a_signature_error() -> None:
    """A non-numeric timestamp from the request fails the signature, not the program."""
    encrypted = seal(b"<xml/>")
    with pytest.raises(SignatureError):
        crypto().decrypt(envelope(encrypted), msg_signature="0" * 40, timestamp="x", nonce="n")
    good = signature(TOKEN, "x", "n", encrypted)
    assert crypto().decrypt(envelope(encrypted), msg_signature=good, timestamp="x", nonce="n")


def test_signature_checked_before_decrypting() -> None:
    """Garbage under a forged signature is a SignatureError, not a DecryptError."""
    with pytest.raises(SignatureError):
        crypto().decrypt(envelope("!!!"), msg_signature="0" * 40, timestamp="1", nonce="n")


def test_wrong_appid_raises_appid_mismatch() -> None:
    """An envelope sealed for another AppID raises AppIdMismatch."""
    with pytest.raises(AppIdMismatch):
        open_push(crypto(), seal(b"<xml/>", appid=b"wx_other_app"))
    with pytest.raises(AppIdMismatch):
        open_push(crypto(), seal(b"<xml/>", appid=b""))


def test_bad_padding_raises() -> None:
    """Padding bytes that disagree with the pad length raise DecryptError (not a mismatch)."""
    body_len = 16 + 4 + 6 + len(APPID)
    count = 32 - body_len % 32
    bad_pad = bytes([count]) * (count - 1) + bytes([count - 1])
    with pytest.raises(DecryptError, match="padding") as info:
        open_push(crypto(), seal(b"<xml/>", pad=bad_pad))
    assert not isinstance(info.value, AppIdMismatch)
    with pytest.raises(DecryptError, match="padding"):
        open_push(crypto(), seal(b"<xml/>", pad=bytes([0]) * count))


def test_truncated_ciphertext_raises() -> None:
    """Ciphertext cut short (not a whole 32-byte block) or empty raises DecryptError."""
    data = base64.b64decode(seal(b"<xml><a>1</a></xml>"))
    for broken in (data[:-16], data[:-1], data[:16], b""):
        encrypted = base64.b64encode(broken).decode()
        with pytest.raises(DecryptError):
            crypto().decrypt_payload(encrypted)
    with pytest.raises(CallbackParseError):
        open_push(crypto(), "")


def test_length_field_beyond_plaintext_raises() -> None:
    """A length field larger than the plaintext raises DecryptError."""
    with pytest.raises(DecryptError, match="length"):
        open_push(crypto(), seal(b"<xml/>", length=10_000))


def test_non_base64_raises() -> None:
    """An Encrypt value that is not base64 raises DecryptError."""
    for text in ("not base64!", "abc", "ÿÿÿÿ", "AAAA====AAAA"):
        with pytest.raises(DecryptError, match="base64"):
            open_push(crypto(), text)


def test_non_utf8_message_raises() -> None:
    """A message that is not UTF-8 raises DecryptError."""
    with pytest.raises(DecryptError, match="UTF-8"):
        open_push(crypto(), seal(b"\xff\xfe<xml/>"))


def test_malformed_outer_xml_raises() -> None:
    """A malformed body, or one without <Encrypt>, raises CallbackParseError."""
    box = crypto()
    for body in ("<xml><Encrypt>", "<xml><ToUserName>x</ToUserName></xml>", "plain", ""):
        with pytest.raises(CallbackParseError):
            box.decrypt(body, msg_signature="0" * 40, timestamp="1", nonce="n")


def test_size_limit_applies_before_parsing() -> None:
    """A body over max_size raises PayloadTooLarge."""
    box = crypto(max_size=64)
    with pytest.raises(PayloadTooLarge):
        box.decrypt(envelope("A" * 100), msg_signature="0" * 40, timestamp="1", nonce="n")


def test_previous_key_opens_during_rotation() -> None:
    """With a previous key configured, a push sealed with it decrypts and is flagged."""
    old = seal(b"<xml>old</xml>", key=OLD_KEY)
    with pytest.raises(DecryptError):
        open_push(crypto(), old)
    box = crypto(previous_encoding_aes_key=OLD_KEY)
    assert open_push(box, old) == "<xml>old</xml>"
    ts, nonce = "5", "m"
    detailed = box.decrypt_detailed(
        envelope(old), msg_signature=signature(TOKEN, ts, nonce, old), timestamp=ts, nonce=nonce
    )
    assert detailed == Decrypted("<xml>old</xml>", used_previous_key=True)
    new = seal(b"<xml>new</xml>")
    assert box.decrypt_payload(new) == Decrypted("<xml>new</xml>", used_previous_key=False)


def test_reply_with_previous_key() -> None:
    """use_previous_key seals the reply with the previous key; only that key opens it."""
    box = crypto(previous_encoding_aes_key=OLD_KEY)
    found = fields_of_reply(box.encrypt("<xml/>", timestamp="1", nonce="n", use_previous_key=True))
    assert unseal(found["Encrypt"], key=OLD_KEY)[1] == b"<xml/>"
    with pytest.raises(ValueError, match="previous"):
        crypto().encrypt("<xml/>", timestamp="1", nonce="n", use_previous_key=True)


def test_wrong_appid_reported_over_bad_padding_during_rotation() -> None:
    """When the current key finds another AppID and the old key fails, AppIdMismatch wins."""
    box = crypto(previous_encoding_aes_key=OLD_KEY)
    with pytest.raises(AppIdMismatch):
        open_push(box, seal(b"<xml/>", appid=b"wx_other"))


@pytest.mark.parametrize(
    "bad",
    [
        "short",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
        "",
    ],
)
def test_bad_encoding_aes_key_raises_without_echoing_it(bad: str) -> None:
    """A malformed EncodingAESKey is a ValueError whose message does not contain the key."""
    with pytest.raises(ValueError, match="43 characters") as info:
        MessageCrypto(TOKEN, bad, APPID)
    assert not isinstance(info.value, CallbackError)
    if bad:
        assert bad not in str(info.value)
    with pytest.raises(ValueError, match="previous_encoding_aes_key") as info:
        MessageCrypto(TOKEN, KEY, APPID, previous_encoding_aes_key=bad)
    if bad:
        assert bad not in str(info.value)


def test_bad_arguments_raise() -> None:
    """An empty token or appid, or a non-numeric timestamp, is a ValueError/TypeError."""
    with pytest.raises(ValueError, match="token"):
        MessageCrypto("", KEY, APPID)
    with pytest.raises(ValueError, match="appid"):
        MessageCrypto(TOKEN, KEY, "")
    with pytest.raises(TypeError):
        MessageCrypto(TOKEN, 123, APPID)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamp"):
        crypto().encrypt("<xml/>", timestamp="12a", nonce="n")
    with pytest.raises(TypeError):
        crypto().encrypt("<xml/>", timestamp=1.5, nonce="n")  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    """The repr names the AppID but neither the token nor either key."""
    box = MessageCrypto(TOKEN, KEY, APPID, previous_encoding_aes_key=OLD_KEY)
    text = repr(box)
    assert APPID in text
    for secret in (TOKEN, KEY, OLD_KEY, aes_key(KEY).hex(), str(aes_key(KEY))):
        assert secret not in text
    assert box.appid == APPID


def test_errors_never_mention_secrets() -> None:
    """No error message raised while decrypting carries the token or the key."""
    box = crypto()
    messages = []
    for encrypted in (seal(b"x", appid=b"other"), "!!", seal(b"x", length=99)):
        with pytest.raises(CallbackError) as info:
            open_push(box, encrypted)
        messages.append(str(info.value))
    with pytest.raises(SignatureError) as info:
        box.decrypt(envelope("AAAA"), msg_signature="x", timestamp="1", nonce="n")
    messages.append(str(info.value))
    for message in messages:
        assert TOKEN not in message
        assert KEY not in message


def test_encrypt_payload_checks_its_arguments_like_encrypt() -> None:
    """encrypt_payload refuses bytes (TypeError) and use_previous_key with one key (ValueError)."""
    with pytest.raises(TypeError, match="xml"):
        crypto().encrypt_payload(b"<xml/>")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="previous_encoding_aes_key"):
        crypto().encrypt_payload("<xml/>", use_previous_key=True)
