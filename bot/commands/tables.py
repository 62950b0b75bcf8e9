"""Plain-text tables for terminal output."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if _numeric(c) and n else c.ljust(w)
                for c, w in zip(row, widths, strict=False)
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):  # scores in [-1, 1] get 4 places, raw rewards and regrets fewer
        return (
            f"{value:.4f}"
            if abs(value) <= 1
            else f"{value:.2f}"
            if abs(value) < 1000
            else f"{value:.1f}"
        )
    return "" if value is None else str(value)


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("%"))
    except ValueError:
        return False
    return True
