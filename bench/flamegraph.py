"""A flame graph (SVG) from collapsed stacks (``frame;frame;frame count`` per line), as py-spy's raw
output writes them. py-spy draws its own only while recording one process; this draws the merged
stacks of every process of a system."""

from __future__ import annotations

import html
from pathlib import Path

WIDTH = 1600
ROW = 16
MIN_WIDTH = 0.5  # pixels: narrower frames are left out, as flamegraph.pl does


class _Node:
    __slots__ = ("children", "count")

    def __init__(self) -> None:
        self.count = 0
        self.children: dict[str, _Node] = {}


def _tree(collapsed: Path) -> _Node:
    root = _Node()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        node = root
        node.count += int(count)
        for frame in stack.split(";"):
            node = node.children.setdefault(frame, _Node())
            node.count += int(count)
    return root


def _colour(name: str) -> str:
    seed = sum(name.encode()) % 60
    return f"rgb({200 + seed // 2},{80 + seed * 2},{40 + seed // 3})"


def write(collapsed: Path, out: Path, title: str) -> Path:
    root = _tree(collapsed)
    rects: list[str] = []
    depth_max = 0

    def draw(node: _Node, name: str, x: float, depth: int) -> None:
        nonlocal depth_max
        width = node.count / root.count * WIDTH if root.count else 0
        if width < MIN_WIDTH:
            return
        depth_max = max(depth_max, depth)
        y = depth * ROW
        label = html.escape(name)
        share = node.count / root.count * 100
        text = html.escape(name if len(name) * 6 < width else name[: max(0, int(width / 6) - 2)] + "..")
        rects.append(
            f"<g><title>{label} ({node.count} samples, {share:.1f} %)</title>"
            f'<rect x="{x:.1f}" y="{{Y{y}}}" width="{width:.1f}" height="{ROW - 1}" fill="{_colour(name)}"/>'
            + (f'<text x="{x + 2:.1f}" y="{{T{y}}}">{text}</text>' if width > 20 else "")
            + "</g>"
        )
        offset = x
        for child_name, child in sorted(node.children.items()):
            draw(child, child_name, offset, depth + 1)
            offset += child.count / root.count * WIDTH

    draw(root, "all", 0.0, 0)
    height = (depth_max + 3) * ROW
    body = []
    for rect in rects:  # flames grow upwards: the root at the bottom
        for depth in range(depth_max + 1):
            y = depth * ROW
            rect = rect.replace(f"{{Y{y}}}", f"{height - (depth + 1) * ROW:.0f}")
            rect = rect.replace(f"{{T{y}}}", f"{height - (depth + 1) * ROW + ROW - 4:.0f}")
        body.append(rect)
    out.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height + ROW}" '
        f'font-family="monospace" font-size="10">'
        f'<text x="4" y="12" font-size="12">{html.escape(title)} ({root.count} samples)</text>'
        + "".join(body)
        + "</svg>\n"
    )
    return out
