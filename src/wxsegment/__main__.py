"""``python -m wxsegment``: a runnable tour of what the library does, on embedded defaults."""

from __future__ import annotations

import sys

from wxsegment._demo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
