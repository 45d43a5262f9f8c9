"""Tools for testing code built on wxsegment, here and downstream.

`wxsegment.testing.strategies` holds hypothesis strategies (install the ``testing`` extra).
"""

from __future__ import annotations

__all__: list[str] = []
