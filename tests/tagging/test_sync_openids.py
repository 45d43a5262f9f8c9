"""Review regression: an openid WeChat would refuse is refused up front, before any write."""

from __future__ import annotations

import pytest

from wxsegment.tagging import TagChanges, TaggingError


@pytest.mark.parametrize("bad", [" padded", "padded ", "tab\t", ""])
def test_tag_changes_refuse_padded_openids(bad: str) -> None:
    """TagSync with a store reads no getidlist, so a padded openid would fail mid-apply."""
    with pytest.raises(TaggingError):
        TagChanges(openid=bad, add={"vip"})
