"""``python -m wxsegment``: the ``wxsegment`` command, e.g. ``python -m wxsegment demo``."""

from __future__ import annotations

from wxsegment._cli_entry import run

if __name__ == "__main__":
    run()
