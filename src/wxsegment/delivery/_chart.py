"""An SVG picture of a calendar plan: campaigns on a time line, and each month's slots used.

Plain SVG text built from the plan's counts (no plotting library): it opens in any browser and
the command line can write it next to the text table.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Final

from wxsegment._clock import SHANGHAI

if TYPE_CHECKING:
    from wxsegment.delivery._calendar import CalendarPlan

__all__ = ["plan_svg"]

_WIDTH: Final = 760
_ROW: Final = 22
_LEFT: Final = 190
_BAR_COLOURS: Final = ("#d9d9d9", "#9ecae1", "#6baed6", "#3182bd", "#08519c")


def _x(at: datetime, first: datetime, last: datetime) -> float:
    span = (last - first).total_seconds() or 1.0
    return _LEFT + (_WIDTH - _LEFT - 20) * (at - first).total_seconds() / span


def plan_svg(plan: CalendarPlan) -> str:
    """The plan as an SVG document (UTF-8 text)."""
    campaigns = list(plan.campaigns.values())
    months = list(plan.months.values())
    height = 60 + _ROW * (len(campaigns) + 2 * len(months) + 2)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<text x="10" y="20" font-size="15" font-weight="bold">Campaigns (planned of matched)'
        "</text>",
    ]
    y = 40
    if campaigns:
        first = min(c.send_at for c in campaigns)
        last = max(c.send_at for c in campaigns)
        widest = max((c.matched for c in campaigns), default=1) or 1
        for c in campaigns:
            x = _x(c.send_at, first, last)
            stamp = c.send_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
            out.append(
                f'<text x="10" y="{y + 14}">{escape(stamp)} {escape(c.campaign[:18])}</text>'
            )
            width = 4 + 120 * c.matched / widest
            filled = width * (c.planned / c.matched) if c.matched else 0.0
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="14" fill="#eee" '
                f'stroke="#999"><title>{escape(c.campaign)}: {c.planned} of {c.matched}'
                "</title></rect>"
            )
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{filled:.1f}" height="14" fill="#3182bd"/>'
            )
            out.append(
                f'<text x="{x + width + 4:.1f}" y="{y + 14}">{c.planned:,} / {c.matched:,}</text>'
            )
            y += _ROW
    y += _ROW
    out.append(f'<text x="10" y="{y}" font-size="15" font-weight="bold">Pushes per follower</text>')
    y += 10
    for month in months:
        total = month.followers or 1
        out.append(f'<text x="10" y="{y + 14}">{escape(month.month)}</text>')
        x = float(_LEFT)
        for used, count in enumerate(month.slots):
            width = (_WIDTH - _LEFT - 20) * count / total
            colour = _BAR_COLOURS[min(used, len(_BAR_COLOURS) - 1)]
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="14" fill="{colour}">'
                f"<title>{used} pushes: {count:,} followers</title></rect>"
            )
            x += width
        y += _ROW
        legend = "  ".join(f"{used}: {count:,}" for used, count in enumerate(month.slots))
        out.append(f'<text x="{_LEFT}" y="{y + 10}" fill="#555">{escape(legend)}</text>')
        y += _ROW
    out.append("</svg>")
    return "\n".join(out) + "\n"
