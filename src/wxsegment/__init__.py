"""wxsegment: segmentation and quota-aware delivery for WeChat service accounts.

The library has three independent parts, composed by applications:

- `wxsegment.api` — a typed WeChat API client (sync and async);
- `wxsegment.segment` — a segment-expression algebra over tags and attributes;
- `wxsegment.quota` — a ledger guaranteeing at most four mass pushes per follower per month.

The shared value types (`Follower`, clocks, quota months) live at the top level.
"""

from __future__ import annotations

import logging

from wxsegment._clock import SHANGHAI, Clock, FixedClock, SystemClock, month_key, month_start
from wxsegment._model import AttributeValue, Follower

__all__ = [
    "SHANGHAI",
    "AttributeValue",
    "Clock",
    "FixedClock",
    "Follower",
    "SystemClock",
    "__version__",
    "month_key",
    "month_start",
]

__version__ = "0.1.0.dev0"

logging.getLogger("wxsegment").addHandler(logging.NullHandler())
