"""The graph's geometry, read back from the SVG: every edge runs from its source to its target
and crosses no other box (a Parallel or Map holding them is no obstacle), Succeed and Fail lead
nowhere, and Catch edges are dashed."""

from __future__ import annotations

import re

import pytest

from stateway.console._graph import flow_svg
from stateway.fdl import load_flow
from tests.console import flows

BOX = re.compile(r'<(?:a|g) [^>]*data-path="([^"]*)"[^>]*>(?:<title>[^<]*</title>)?<rect x="([-\d.]+)" '
                 r'y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)"')
EDGE = re.compile(r'<path d="([^"]+)" class="edge edge-(\w+)"[^>]*data-from="([^"]*)" data-to="([^"]*)"')


def geometry(svg: str):
    boxes = {m[0]: tuple(float(v) for v in m[1:]) for m in BOX.findall(svg)}
    edges = []
    for d, kind, source, target in EDGE.findall(svg):
        points = [tuple(float(v) for v in p.split(",")) for p in re.findall(r"[-\d.]+,[-\d.]+", d)]
        edges.append((points, kind, source, target))
    return boxes, edges


def crosses(a, b, rect, margin=1.0) -> bool:
    """Does the axis-parallel segment a-b pass through the inside of rect?"""
    x, y, w, h = rect
    left, right, top, bottom = x + margin, x + w - margin, y + margin, y + h - margin
    (x1, y1), (x2, y2) = a, b
    if abs(x1 - x2) < 0.01:
        return left < x1 < right and max(y1, y2) > top and min(y1, y2) < bottom
    assert abs(y1 - y2) < 0.01, f"not orthogonal: {a} {b}"
    return top < y1 < bottom and max(x1, x2) > left and min(x1, x2) < right


def ancestors(path: str) -> set[str]:
    parts = path.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


@pytest.mark.parametrize("definition", [flows.NESTED, flows.EVERYTHING, flows.MAP, flows.STEPS],
                         ids=["nested", "everything", "map", "steps"])
def test_no_edge_enters_a_box_that_is_not_its_target(definition):
    svg = flow_svg(load_flow(definition))
    boxes, edges = geometry(svg)
    assert boxes and edges
    for points, _kind, source, target in edges:
        allowed = {source, target} | ancestors(source) | ancestors(target)
        for path, rect in boxes.items():
            if path in allowed:
                continue
            for a, b in zip(points, points[1:], strict=False):
                assert not crosses(a, b, rect), f"edge {source} → {target} crosses {path}"
        if target:  # it ends on its target's top side
            x, y, w, _ = boxes[target]
            end = points[-1]
            assert abs(end[1] - y) < 0.6 and x <= end[0] <= x + w, f"edge {source} → {target} misses it"


def test_succeed_and_fail_end_and_catch_edges_are_dashed():
    svg = flow_svg(load_flow(flows.NESTED))
    _, edges = geometry(svg)
    sources = {source for _, _, source, _ in edges}
    for terminal in ("Broken", "Done", "Both/Branch0/Negative"):
        assert terminal not in sources, f"{terminal} has an outgoing edge"
    catches = {(s, t) for _, kind, s, t in edges if kind == "catch"}
    assert catches == {("Both", "Broken"), ("Both/Branch1/Call", "Both/Branch1/Recover")}
    assert re.search(r"\.edge-catch \{[^}]*stroke-dasharray", _css())


def test_a_200_state_flow_keeps_its_boxes_apart():
    states = "\n".join(f"  - Type: Pass\n    Name: S{i}\n    Next: S{i + 1}" for i in range(199))
    definition = f"Type: StateMachine\nSpecVersion: v1\nName: big\nStartAt: S0\nStates:\n{states}\n" \
                 "  - Type: Succeed\n    Name: S199\n"
    boxes, edges = geometry(flow_svg(load_flow(definition)))
    assert len(boxes) == 200 and len(edges) == 200  # 199 next edges and the start
    rects = sorted(boxes.values(), key=lambda r: r[1])
    assert all(b[1] >= a[1] + a[3] for a, b in zip(rects, rects[1:], strict=False))


def _css() -> str:
    from pathlib import Path

    import stateway.console

    return (Path(stateway.console.__file__).parent / "static" / "console.css").read_text()
