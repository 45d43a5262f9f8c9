"""Every fenced code block of docs/ is run by a test or says why not.

A block counts as run when a test named in ``RUNNERS`` runs it, or when this module runs it:
the python blocks of a page that no runner claims are executed here, in page order, in one
namespace per page, and a block followed directly by a ``text`` block must print exactly that
text. Any other block needs an ``<!-- not run: REASON -->`` comment on the line before it,
except by language: ``text`` blocks are output (or a diagram: an error tree, a format), not
code; ``sh``/``bash`` blocks are shell commands; ``toml``/``ini``/``cron`` blocks are
configuration.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXEMPT_LANGUAGES = frozenset({"text", "sh", "bash", "toml", "ini", "cron"})
NOT_RUN = re.compile(r"^<!-- not run: (\S.*?) -->$")


@attrs.frozen
class Block:
    """One fenced block: its page, info string, code, 1-based line and the comment before it."""

    page: str
    info: str
    code: str
    line: int
    before: str
    section: str

    @property
    def language(self) -> str:
        """The first word of the info string."""
        return self.info.split(" ", 1)[0]


@attrs.frozen
class Runner:
    """A test (``path::function``) and which of a page's python blocks it runs."""

    test: str
    runs: Callable[[Block], bool]


def _every(block: Block) -> bool:
    return block.info == "python"


def _every_unmarked(block: Block) -> bool:
    return _every(block) and not NOT_RUN.match(block.before)


def _containing(marker: str) -> Callable[[Block], bool]:
    return lambda block: block.info == "python" and marker in block.code


RUNNERS: dict[str, tuple[Runner, ...]] = {
    "api.md": (Runner("tests/api/test_docs.py::test_docs_examples_run", _every),),
    "calendar.md": (
        Runner(
            "tests/delivery/test_calendar_docs.py::test_calendar_page_runs_and_prints_what_it_shows",
            _every_unmarked,
        ),
    ),
    "callbacks.md": (
        Runner("tests/api/test_callback_docs.py::test_handshake", _containing("make_server")),
        Runner(
            "tests/api/test_callback_docs.py::test_reply_example_runs", _containing("NewsReply(")
        ),
        Runner(
            "tests/api/test_callback_endpoint_docs.py::test_fake_wechat_example_runs",
            _containing("EventHandlers("),
        ),
        Runner(
            "tests/api/test_callback_endpoint_docs.py::test_fastapi_example_under_uvicorn",
            _containing("FastAPI()"),
        ),
        Runner(
            "tests/api/test_callback_endpoint_docs.py::test_flask_example_under_wsgiref",
            _containing("Flask(__name__)"),
        ),
        Runner(
            "tests/api/test_callback_endpoint_docs.py::test_django_view", _containing("csrf_exempt")
        ),
    ),
    "delivery.md": (
        Runner("tests/delivery/test_docs.py::test_delivery_page_examples_run", _every),
    ),
    "followers.md": (Runner("tests/followers/test_docs.py::test_docs_examples_run", _every),),
    "quota.md": (
        Runner("tests/quota/test_docs.py::test_quota_page_examples_run", _every),
        Runner(
            "tests/quota/test_window_stores.py::test_docs_server_store_example_runs",
            lambda block: block.info == "python servers",
        ),
    ),
    "quota-backends.md": (
        Runner(
            "tests/test_docs_blocks.py::test_postgres_ledger_example_runs_on_the_test_server",
            _containing("PostgresLedger("),
        ),
    ),
    "segment.md": (
        Runner(
            "tests/segment/test_docs.py::test_explain_examples_print_what_the_page_shows",
            lambda block: _every(block) and block.section == "Explaining an audience",
        ),
        Runner(
            "tests/segment/test_sql.py::test_the_mysql_mapping_example_of_the_docs_runs",
            _containing('dialect="mysql"'),
        ),
        Runner(
            "tests/test_docs_blocks.py::test_segment_page_dsl_and_json_are_its_first_example",
            lambda block: block.info == "json",
        ),
    ),
    "tagging.md": (Runner("tests/tagging/test_docs.py::test_docs_examples_run", _every),),
    "testing.md": (Runner("tests/testing/test_fake_docs.py::test_docs_examples_run", _every),),
}


def pages() -> list[str]:
    """The Markdown pages of docs/, relative to it."""
    return sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))


def blocks(page: str) -> list[Block]:
    """The fenced blocks of a page, in order."""
    found: list[Block] = []
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            start = index
            before = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
            index += 1
            while index < len(lines) and lines[index].rstrip() != "```":
                index += 1
            assert index < len(lines), f"{page}:{start + 1}: unclosed code block"
            code = "".join(text + "\n" for text in lines[start + 1 : index])
            found.append(Block(page, line[3:].strip(), code, start + 1, before, section))
        index += 1
    return found


def _claimed(block: Block) -> bool:
    return any(runner.runs(block) for runner in RUNNERS.get(block.page, ()))


def _runs_here(block: Block) -> bool:
    return block.info == "python" and not _claimed(block) and not NOT_RUN.match(block.before)


@pytest.mark.parametrize("page", pages())
def test_every_block_is_run_or_says_why_not(page: str) -> None:
    """Each block is claimed by a runner, run here, exempt by language, or marked not run."""
    unaccounted = [
        f"{page}:{block.line} ```{block.info}"
        for block in blocks(page)
        if not _claimed(block)
        and not _runs_here(block)
        and block.language not in EXEMPT_LANGUAGES
        and not NOT_RUN.match(block.before)
    ]
    assert unaccounted == []


@pytest.mark.parametrize("page", sorted(RUNNERS))
def test_runners_exist_and_read_their_page(page: str) -> None:
    """Every runner names a test function that exists in a file that reads the page."""
    for runner in RUNNERS[page]:
        path, function = runner.test.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert f"def {function}(" in source, runner.test
        assert f'"{page}"' in source, runner.test
        assert any(runner.runs(block) for block in blocks(page)), f"{runner.test} runs nothing"


def test_marked_blocks_are_not_also_run() -> None:
    """A block marked not run is not claimed by a runner (the mark would be a lie)."""
    both = [
        f"{block.page}:{block.line}"
        for page in pages()
        for block in blocks(page)
        if NOT_RUN.match(block.before) and _claimed(block)
    ]
    assert both == []


@pytest.mark.parametrize(
    "page", [page for page in pages() if any(_runs_here(block) for block in blocks(page))]
)
def test_unclaimed_python_blocks_run_and_print_what_follows(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unclaimed python blocks run in order; each prints the text block right after it."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{Path(page).stem}"}
    found = blocks(page)
    for position, block in enumerate(found):
        if not _runs_here(block):
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)
        after = found[position + 1] if position + 1 < len(found) else None
        if after is not None and after.info == "text" and _adjacent(page, block, after):
            assert out.getvalue() == after.code, f"{page}:{block.line}"


def _adjacent(page: str, block: Block, after: Block) -> bool:
    """True when only blank lines separate the end of ``block`` from ``after``."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    end = block.line + block.code.count("\n") + 1  # the line after the closing fence
    return all(not line.strip() for line in lines[end : after.line - 1])


def test_every_tour_step_shows_its_output() -> None:
    """Each python block of docs/tour.md is followed by the text block it must print."""
    found = blocks("tour.md")
    steps = [i for i, block in enumerate(found) if block.info == "python"]
    assert len(steps) >= 4
    for i in steps:
        assert _runs_here(found[i])
        assert found[i + 1].info == "text"
        assert _adjacent("tour.md", found[i], found[i + 1])


def test_tour_shows_what_the_demo_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """The text block after ``wxsegment demo`` in docs/tour.md is the demo's output."""
    from wxsegment._demo import main

    found = blocks("tour.md")
    (at,) = [i for i, b in enumerate(found) if b.language == "sh" and "wxsegment demo" in b.code]
    assert found[at + 1].info == "text"
    assert main([]) == 0
    assert capsys.readouterr().out == found[at + 1].code


def test_every_page_is_in_the_site_navigation() -> None:
    """mkdocs.yml's nav lists every page of docs/, the tour first."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^\s+- [^:\n]+: (\S+\.md)$", config.split("\nnav:\n", 1)[1], re.M)
    assert sorted(nav) == pages()
    assert nav[0] == "tour.md"


def test_segment_page_dsl_and_json_are_its_first_example() -> None:
    """docs/segment.md's DSL and JSON blocks are the audience its first block builds."""
    import json

    from wxsegment.segment import from_json, parse, render, to_json

    found = blocks("segment.md")
    namespace: dict[str, Any] = {}
    exec(compile(found[0].code, "segment.md:first", "exec"), namespace)
    audience = namespace["audience"]
    shown = found[0].code.rsplit("# ", 1)[1].strip()
    assert repr(render(audience)) == shown
    (dsl,) = [b for b in found if b.info == "text" and b.section == "" and "tag:" in b.code]
    assert parse(dsl.code.strip()) == audience
    (data,) = [b for b in found if b.info == "json"]
    assert from_json(json.loads(data.code)) == audience
    assert to_json(audience) == json.loads(data.code)


def test_postgres_ledger_example_runs_on_the_test_server() -> None:
    """docs/quota-backends.md's PostgreSQL block runs, pointed at the test server's own schema."""
    from tests._services import PG_DSN, unreachable
    from tests.quota.servers import drop_schema, fresh_name

    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    (block,) = [b for b in blocks("quota-backends.md") if "PostgresLedger(" in b.code]
    schema = fresh_name("docs")
    code = block.code.replace('"postgresql://app@db.internal/app"', repr(PG_DSN)).replace(
        'schema="wxsegment"', f"schema={schema!r}"
    )
    assert code.count(schema) == 1
    assert repr(PG_DSN) in code
    namespace: dict[str, Any] = {}
    try:
        exec(compile(code, "quota-backends.md:postgres", "exec"), namespace)
        assert namespace["result"].granted == ("openid-1", "openid-2")
    finally:
        drop_schema(schema)


def test_readme_lists_every_guide_page() -> None:
    """README.md's documentation list links every top-level page of docs/, the tour first."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"\(docs/([^)]+\.md)\)", readme.split("## Documentation\n", 1)[1])
    assert sorted(set(listed)) == [page for page in pages() if "/" not in page]
    assert listed[0] == "tour.md"
