"""The console script's entry: a clear message when the ``cli`` extra is not installed."""

from __future__ import annotations

import sys


def run() -> None:
    """Run ``wxsegment``; exit 1 with an install hint if click or rich is missing."""
    try:
        from wxsegment.cli import main
    except ImportError as error:
        missing = error.name or "click"
        print(
            f"wxsegment: the command line needs {missing}: pip install 'wxsegment[cli]'",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    raise SystemExit(main())
