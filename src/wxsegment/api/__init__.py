"""A typed WeChat service-account API client (sync and async), and callback handling."""

from __future__ import annotations

__all__: list[str] = []
