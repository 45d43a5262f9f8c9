"""Tests of verify_signature, sign and the echostr handshake."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.api.callback import SignatureError, echostr_response, sign, verify_signature

WORDS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)


def test_documented_example() -> None:
    """The worked example: "1714037059", "486452656", "AAAAA" sort in that order."""
    expected = hashlib.sha1(b"1714037059" + b"486452656" + b"AAAAA").hexdigest()
    assert sign("AAAAA", "1714037059", "486452656") == expected
    assert verify_signature("AAAAA", "1714037059", "486452656", expected)
    assert verify_signature("AAAAA", 1714037059, "486452656", expected)


def test_sorting_is_by_string_not_number() -> None:
    """Timestamps sort as strings: "9" after "10" (a numeric sort would differ)."""
    expected = hashlib.sha1(b"10" + b"9" + b"tok").hexdigest()
    assert verify_signature("tok", "9", "10", expected)


@given(token=WORDS, timestamp=WORDS, nonce=WORDS)
def test_signature_ignores_argument_order(token: str, timestamp: str, nonce: str) -> None:
    """sign() is the same for every order of its parts, and verify accepts it."""
    signatures = {sign(*order) for order in itertools.permutations((token, timestamp, nonce))}
    assert len(signatures) == 1
    assert verify_signature(token, timestamp, nonce, signatures.pop())


@given(token=WORDS, timestamp=WORDS, nonce=WORDS, data=st.data())
def test_altered_signature_is_refused(
    token: str, timestamp: str, nonce: str, data: st.DataObject
) -> None:
    """Changing any one hex digit of a valid signature makes it invalid."""
    good = sign(token, timestamp, nonce)
    at = data.draw(st.integers(0, len(good) - 1))
    digit = data.draw(st.sampled_from("0123456789abcdef").filter(lambda c: c != good[at]))
    assert not verify_signature(token, timestamp, nonce, good[:at] + digit + good[at + 1 :])
    assert not verify_signature(token + "x", timestamp, nonce, good)


def test_odd_signatures_are_refused_not_crashing() -> None:
    """Empty, non-ASCII and lone-surrogate signatures are simply invalid."""
    for forged in ("", "签名", "\ud800", "0" * 40, "0" * 400):
        assert not verify_signature("tok", "1", "n", forged)


def test_wrong_types_raise_type_error() -> None:
    """Non-string arguments are a TypeError, not a silent False."""
    with pytest.raises(TypeError):
        verify_signature("tok", "1", "n", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_signature(None, "1", "n", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_signature("tok", True, "n", "x")


def test_echostr_handshake() -> None:
    """A signed handshake answers echostr verbatim; a forged one raises SignatureError."""
    good = hashlib.sha1("".join(sorted(["tok", "1700000000", "nonce"])).encode()).hexdigest()
    body = echostr_response(
        "tok", signature=good, timestamp="1700000000", nonce="nonce", echostr="5837397520"
    )
    assert body == "5837397520"
    with pytest.raises(SignatureError):
        echostr_response(
            "tok", signature=good, timestamp="1700000001", nonce="nonce", echostr="5837397520"
        )
