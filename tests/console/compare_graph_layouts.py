"""Side by side: the console's own graph layout and ELK's (elkjs, layered, orthogonal edges) on the
cases of issue 23, for docs/design/console-graph.md. A tool, not a test, and not shipped: it needs
Node.js and an elkjs checkout (``npm install elkjs`` in a temporary folder).

    ELKJS=/tmp/elkcmp/node_modules/elkjs/lib/elk.bundled.js \\
        .venv/bin/python -m tests.console.compare_graph_layouts

Both drawings get the same box sizes and the same checks (tests/console/test_graph_layout.py):
edges that cross a box other than their ends (or a group holding them), the drawing's size, and the
time to lay it out. Writes docs/img/graph-<case>-{stateway,elk}.png and prints a Markdown table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from html import escape
from pathlib import Path

from playwright.sync_api import sync_playwright

from stateway.console._graph import GAP_X, GAP_Y, HEADER, NODE_H, NODE_W, PAD, _successors, flow_svg
from stateway.fdl import Scope, load_flow
from tests.console import flows
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.console.test_graph_layout import ancestors, crosses, geometry

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
CSS = (Path(__file__).resolve().parents[2] / "src" / "stateway" / "console" / "static" / "console.css").read_text()
RUNNER = """
const ELK = require(process.env.ELKJS);
const graph = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const elk = new ELK();
const began = process.hrtime.bigint();
elk.layout(graph).then((out) => {
  out.ms = Number(process.hrtime.bigint() - began) / 1e6;
  process.stdout.write(JSON.stringify(out));
});
"""


def _big() -> str:
    states = "\n".join(f"  - Type: Pass\n    Name: S{i}\n    Next: S{i + 1}" for i in range(199))
    return f"Type: StateMachine\nSpecVersion: v1\nName: big\nStartAt: S0\nStates:\n{states}\n  - Type: Succeed\n    Name: S199\n"


def _wide_choices() -> str:
    """A Choice over 12 Parallels of 3 branches each, with Catches to one Fail: width and crossings."""
    rows = ["Type: StateMachine", "SpecVersion: v1", "Name: wide", "StartAt: Route", "States:",
            "  - Type: Choice", "    Name: Route", "    Branches:"]
    rows += [f"      - Condition: $Input.k == {i}\n        Next: P{i}" for i in range(12)]
    rows += ["    Default: Oops"]
    for i in range(12):
        branches = "\n".join(f"      - StartAt: B{i}x{j}\n        States:\n          - Type: Pass\n"
                             f"            Name: B{i}x{j}\n            End: true" for j in range(3))
        rows += [f"  - Type: Parallel\n    Name: P{i}\n    Branches:\n{branches}\n    Catch:\n"
                 f"      - Errors: [FnF.ALL]\n        Next: Oops\n    Next: Done"]
    rows += ["  - Type: Fail\n    Name: Oops\n    Code: Oops", "  - Type: Succeed\n    Name: Done"]
    return "\n".join(rows) + "\n"


CASES = {"nested": flows.NESTED, "everything": flows.EVERYTHING, "wide": _wide_choices(), "big200": _big()}


def elk_graph(scope: Scope, prefix: str, edges: list[dict]) -> list[dict]:
    children = []
    for name, state in scope.states.items():
        path = f"{prefix}{name}"
        node: dict = {"id": path, "width": NODE_W, "height": NODE_H, "labels": [{"text": name}]}
        inner = []
        if state.type == "Parallel":
            inner = [(f"{path}/Branch{i}", b) for i, b in enumerate(state.branches[:8])]
        elif state.type == "Map" and state.processor is not None:
            inner = [(f"{path}/Item", state.processor)]
        if inner:
            node = {"id": path, "labels": [{"text": name}], "layoutOptions": {
                "elk.padding": f"[top={HEADER + PAD},left={PAD},bottom={PAD + 20},right={PAD}]"},
                "children": [{"id": sub_path + "#scope", "layoutOptions": {"elk.padding": "[top=18,left=6,bottom=6,right=6]"},
                              "children": elk_graph(sub, sub_path + "/", edges)} for sub_path, sub in inner]}
        children.append(node)
        for target, kind, _ in _successors(state):
            if target in scope.states:
                edges.append({"id": f"e{len(edges)}", "sources": [path], "targets": [f"{prefix}{target}"],
                              "kind": kind})
    return children


def run_elk(definition: str) -> tuple[str, float]:
    flow = load_flow(definition)
    edges: list[dict] = []
    children = elk_graph(flow.root, "", edges)
    graph = {"id": "root", "layoutOptions": {
        "elk.algorithm": "layered", "elk.direction": "DOWN", "elk.hierarchyHandling": "INCLUDE_CHILDREN",
        "elk.edgeRouting": "ORTHOGONAL", "elk.spacing.nodeNode": str(GAP_X),
        "elk.layered.spacing.nodeNodeBetweenLayers": str(GAP_Y), "elk.padding": "[top=20,left=20,bottom=20,right=20]"},
        "children": children, "edges": [{k: v for k, v in e.items() if k != "kind"} for e in edges]}
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as script:
        script.write(RUNNER)
    # elkjs's own time, measured inside Node (a fresh process: the first layout includes its warm-up)
    result = json.loads(subprocess.run(["node", script.name], input=json.dumps(graph), capture_output=True, text=True,
                                       check=True, env={**os.environ}).stdout)
    os.unlink(script.name)
    kinds = {e["id"]: e["kind"] for e in edges}
    return elk_svg(result, kinds), result["ms"]


def elk_svg(result: dict, kinds: dict[str, str]) -> str:
    """The ELK result drawn with the console's own classes: boxes carry data-path, edges data-from/-to."""
    parts: list[str] = []
    offsets: dict[str, tuple[float, float]] = {"root": (0.0, 0.0)}

    def walk(node: dict, ox: float, oy: float) -> None:
        for child in node.get("children", []):
            x, y = ox + child["x"], oy + child["y"]
            offsets[child["id"]] = (x, y)
            if child["id"].endswith("#scope"):
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{child["width"]:.1f}" height="{child["height"]:.1f}"'
                             ' class="scope" rx="6"/>')
            else:
                group = " group" if child.get("children") else ""
                parts.append(f'<g class="node{group}" data-path="{escape(child["id"])}"><rect x="{x:.1f}" y="{y:.1f}" '
                             f'width="{child["width"]:.1f}" height="{child["height"]:.1f}" rx="8"/>'
                             f'<text x="{x + 10:.1f}" y="{y + 18:.1f}" class="name">'
                             f'{escape(child["id"].rsplit("/", 1)[-1])}</text></g>')
            walk(child, x, y)

    walk(result, 0, 0)

    def edges(node: dict) -> None:
        for edge in node.get("edges", []):
            # ELK gives edge coordinates relative to the edge's container (elkjs 0.9)
            ox, oy = offsets.get(edge.get("container", node["id"]), (0.0, 0.0))
            for section in edge.get("sections", []):
                points = [section["startPoint"], *section.get("bendPoints", []), section["endPoint"]]
                d = "M" + " L".join(f"{ox + p['x']:.1f},{oy + p['y']:.1f}" for p in points)
                kind = kinds.get(edge["id"], "next")
                parts.append(f'<path d="{d}" class="edge edge-{kind}" marker-end="url(#arrow)" '
                             f'data-from="{escape(edge["sources"][0])}" data-to="{escape(edge["targets"][0])}"/>')
        for child in node.get("children", []):
            edges(child)

    edges(result)
    w, h = result["width"], result["height"]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" '
            f'height="{h:.0f}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker>'
            f'</defs>{"".join(parts)}</svg>')


def check(svg: str) -> tuple[int, int]:
    """(edges that cross a box that is not theirs, edges that do not end on their target)."""
    boxes, edges = geometry_any(svg)
    crossing = missing = 0
    for points, _kind, source, target in edges:
        allowed = {source, target} | ancestors(source) | ancestors(target)
        if any(crosses(a, b, rect) for path, rect in boxes.items() if path not in allowed
               for a, b in zip(points, points[1:], strict=False)):
            crossing += 1
        if target in boxes:
            x, y, w, h = boxes[target]
            ex, ey = points[-1]
            if not (x - 1 <= ex <= x + w + 1 and y - 1 <= ey <= y + h + 1):
                missing += 1
    return crossing, missing


def geometry_any(svg: str):
    boxes = {m[0]: tuple(float(v) for v in m[1:]) for m in re.findall(
        r'<(?:a|g) [^>]*data-path="([^"]*)"[^>]*>(?:<title>[^<]*</title>)?<rect x="([-\d.]+)" y="([-\d.]+)" '
        r'width="([\d.]+)" height="([\d.]+)"', svg)}
    _, edges = geometry(svg)
    return boxes, edges


def main() -> None:
    if not os.environ.get("ELKJS"):
        raise SystemExit("set ELKJS to elkjs's lib/elk.bundled.js")
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for case, definition in CASES.items():
            model = load_flow(definition)
            began = time.perf_counter()
            ours = flow_svg(model)
            ours_ms = (time.perf_counter() - began) * 1000
            elk, elk_ms = run_elk(definition)
            for name, svg, ms in (("stateway", ours, ours_ms), ("elk", elk, elk_ms)):
                crossing, missing = check(svg)
                w, h = (float(v) for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups())
                rows.append((case, name, crossing, missing, w, h, ms))
                page.set_content(f"<html><head><style>{CSS} body{{margin:0}} .graph-box{{border:0}}</style></head>"
                                 f"<body><div class='graph-box'>{svg}</div></body></html>")
                page.screenshot(path=str(OUT / f"graph-{case}-{name}.png"), full_page=case != "big200")
        browser.close()
    print("| case | layout | edges crossing another box | edges missing their target | size (px) | layout time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case, name, crossing, missing, w, h, ms in rows:
        print(f"| {case} | {name} | {crossing} | {missing} | {w:.0f} × {h:.0f} | {ms:.0f} ms |")


if __name__ == "__main__":
    main()
