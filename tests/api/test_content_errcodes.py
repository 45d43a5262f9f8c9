"""The content APIs' errcodes (facts part 2, section 23) reach the family they imply."""

from __future__ import annotations

import pytest

from wxsegment.api import error_for

EXPECTED = {
    40004: "MediaError",
    40005: "MediaError",
    40007: "MediaError",
    40009: "MediaError",
    41005: "MediaError",
    44001: "MediaError",
    40037: "TemplateError",
    40103: "TemplateError",
    40246: "TemplateError",
    47003: "TemplateError",
    41030: "InvalidRequestError",
    44003: "InvalidRequestError",
    45166: "InvalidRequestError",
    47001: "InvalidRequestError",
    43101: "RecipientRefusedError",
    45103: "PermissionDeniedError",
    45106: "PermissionDeniedError",
    48001: "PermissionDeniedError",
    **dict.fromkeys((*range(200011, 200015), *range(200016, 200022)), "TemplateError"),
}


@pytest.mark.parametrize(("errcode", "name"), sorted(EXPECTED.items()))
def test_content_codes_reach_their_family(errcode: int, name: str) -> None:
    """Each code maps to the error class its meaning implies."""
    assert type(error_for(errcode, "", "/cgi-bin/p")).__name__ == name
