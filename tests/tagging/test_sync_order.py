"""TagSync applies tags in a stated order, which decides a follower's conditional menu."""

from __future__ import annotations

import pytest

from wxsegment.api import Button, Client, MatchRule
from wxsegment.tagging import TagChanges, TagSync
from wxsegment.testing import FakeWeChat


def _menus(client: Client, names: list[str]) -> None:
    client.menus.create([Button("默认", type="click", key="DEFAULT")])
    ids = {tag.name: tag.id for tag in client.tags.list()}
    for name in names:
        client.menus.add_conditional(
            [Button(name, type="click", key=name)], MatchRule(tag_id=ids[name])
        )


@pytest.mark.parametrize("last", ["已购", "A门店"])
def test_the_tag_named_last_decides_the_menu(fake: FakeWeChat, client: Client, last: str) -> None:
    """Both tags arrive in one apply; the one last in tag_order is applied last and wins."""
    fake.add_follower("oFan")
    first = "A门店" if last == "已购" else "已购"
    for name in (first, last):
        client.tags.create(name)
    _menus(client, ["A门店", "已购"])
    sync = TagSync(client, tag_order=[first, last])
    plan = sync.plan([TagChanges(openid="oFan", add={"A门店", "已购"})])
    assert list(plan.tag) == [first, last]
    sync.apply([TagChanges(openid="oFan", add={"A门店", "已购"})])
    assert [b.name for b in client.menus.trymatch("oFan")] == [last]


def test_tags_outside_the_order_go_first_by_name(fake: FakeWeChat, client: Client) -> None:
    """Unnamed tags are applied first, sorted by name; tag_order must be names."""
    fake.add_follower("oX")
    sync = TagSync(client, tag_order=["z"])
    plan = sync.plan([TagChanges(openid="oX", add={"z", "b", "a"})])
    assert list(plan.tag) == ["a", "b", "z"]
    sync = TagSync(client, tag_order=["a"])
    assert list(sync.plan([TagChanges(openid="oX", add={"z", "b", "a"})]).tag) == ["b", "z", "a"]
    with pytest.raises(TypeError, match="tag_order"):
        TagSync(client, tag_order="abc")
