"""The ``wxsegment`` command line (extra ``cli``: click and rich).

``wxsegment demo`` runs the end-to-end demo on embedded defaults; ``wxsegment --help`` lists
the rest. Import `main` to run it from Python.
"""

from __future__ import annotations

from wxsegment.cli._app import cli, main
from wxsegment.cli._config import ConfigError, Secret, Settings, load_settings

__all__ = ["ConfigError", "Secret", "Settings", "cli", "load_settings", "main"]
