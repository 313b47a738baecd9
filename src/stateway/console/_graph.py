"""A flow's graph, laid out in Python and drawn as SVG (no JavaScript layout library).

Each scope (the flow, a Parallel branch, a Map iterator) is laid out in layers, top to bottom:
a state's layer is the longest forward path to it from StartAt; edges that point back (loops)
are routed round the right-hand side. Parallel and Map states are boxes holding their scopes.
Node paths match the step names of the history with Map item indices dropped
(``Map/Item/State``), so an execution's progress can be painted on the same drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from stateway.fdl import Flow, Scope, State

NODE_W, NODE_H = 176, 46
GAP_X, GAP_Y = 28, 44
PAD, HEADER = 14, 26
MAX_BRANCHES = 8  # more Parallel branches than this are drawn collapsed into one "+N more" box
MAX_LABEL = 22
LANE = 40

# status → (symbol, words); the symbol and the words make the legend readable without colour
STATUSES: dict[str, tuple[str, str]] = {
    "notreached": ("○", "not reached"),
    "running": ("▶", "running"),
    "waiting": ("‖", "waiting on callback"),
    "succeeded": ("✓", "succeeded"),
    "failed": ("✗", "failed"),
    "caught": ("↷", "caught"),
    "cancelled": ("⊘", "cancelled"),
}


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next | choice | default | catch
    label: str = ""


@dataclass
class Box:
    path: str
    state: State | None  # None: the "+N more branches" placeholder
    x: float = 0
    y: float = 0
    w: float = NODE_W
    h: float = NODE_H
    scopes: list[tuple[str, Layout]] = field(default_factory=list)  # (label, layout) inside a group
    more: int = 0
    layer: int = 0


@dataclass
class Layout:
    boxes: dict[str, Box]
    edges: list[Edge]
    start: str
    w: float = 0
    h: float = 0
    back: set[tuple[str, str]] = field(default_factory=set)
    ox: float = 0
    oy: float = 0


def _short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _successors(state: State) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if state.type == "Choice":
        for i, branch in enumerate(state.choices):
            out.append((branch.next, "choice", _short(branch.condition.source, 28) or f"#{i + 1}"))
        if state.default:
            out.append((state.default, "default", "Default"))
    elif state.next and not state.end:
        out.append((state.next, "next", ""))
    for rule in state.catch:
        out.append((rule.next, "catch", "catch " + _short(",".join(rule.errors), 20)))
    return out


def layout_scope(scope: Scope, prefix: str) -> Layout:
    names = list(scope.states)
    succ = {n: [s for s in _successors(scope.states[n]) if s[0] in scope.states] for n in names}
    # depth-first order from StartAt (then any unreachable state), marking back edges
    order: list[str] = []
    seen: set[str] = set()
    on_stack: set[str] = set()
    back: set[tuple[str, str]] = set()

    def visit(root: str) -> None:
        stack: list[tuple[str, int]] = [(root, 0)]
        seen.add(root)
        on_stack.add(root)
        while stack:
            node, i = stack[-1]
            if i < len(succ[node]):
                stack[-1] = (node, i + 1)
                target = succ[node][i][0]
                if target in on_stack:
                    back.add((node, target))
                elif target not in seen:
                    seen.add(target)
                    on_stack.add(target)
                    stack.append((target, 0))
            else:
                stack.pop()
                on_stack.discard(node)
                order.append(node)

    for root in [scope.start_at, *names]:
        if root in scope.states and root not in seen:
            visit(root)
    order.reverse()  # a topological order of the forward edges
    layer = dict.fromkeys(names, 0)
    for node in order:
        for target, _, _ in succ[node]:
            if (node, target) not in back:
                layer[target] = max(layer[target], layer[node] + 1)
    boxes: dict[str, Box] = {}
    for name in names:
        state = scope.states[name]
        path = f"{prefix}{name}"
        box = Box(path, state)
        if state.type == "Parallel":
            shown = state.branches[:MAX_BRANCHES]
            box.scopes = [(f"Branch {i}", layout_scope(b, f"{path}/Branch{i}/")) for i, b in enumerate(shown)]
            box.more = len(state.branches) - len(shown)
        elif state.type == "Map" and state.processor is not None:
            box.scopes = [("Iterator (each item)", layout_scope(state.processor, f"{path}/Item/"))]
        if box.scopes:
            inner_w = sum(sub.w for _, sub in box.scopes) + GAP_X * (len(box.scopes) - 1) + PAD * 2
            if box.more:
                inner_w += GAP_X + NODE_W
            box.w = max(NODE_W + PAD * 2, inner_w)
            box.h = HEADER + PAD + max(sub.h for _, sub in box.scopes) + PAD + 20
        boxes[name] = box
    layers: dict[int, list[str]] = {}
    for node in order:
        layers.setdefault(layer[node], []).append(node)
    width = max((sum(boxes[n].w for n in row) + GAP_X * (len(row) - 1) for row in layers.values()), default=NODE_W)
    # an edge that skips layers runs down a lane on the left instead of through the states between
    skips = any(layer[t] > layer[n] + 1 for n in names for t, _, _ in succ[n] if (n, t) not in back)
    left = LANE if skips else 0
    y = 0.0
    for index in sorted(layers):
        row = layers[index]
        row_w = sum(boxes[n].w for n in row) + GAP_X * (len(row) - 1)
        x = left + (width - row_w) / 2
        row_h = max(boxes[n].h for n in row)
        for n in row:
            boxes[n].x, boxes[n].y, boxes[n].layer = x, y, index
            x += boxes[n].w + GAP_X
        y += row_h + GAP_Y
    has_back = bool(back)
    edges = [Edge(n, t, kind, label) for n in names for t, kind, label in succ[n]]
    return Layout(boxes, edges, scope.start_at, left + width + (LANE if has_back else 0), max(0.0, y - GAP_Y), back)


def _place(layout: Layout, dx: float, dy: float) -> None:
    """Move a layout (and everything nested in it) to absolute coordinates."""
    layout.ox, layout.oy = dx, dy
    for box in layout.boxes.values():
        box.x += dx
        box.y += dy
        if box.scopes:
            x = box.x + PAD
            for _, sub in box.scopes:
                _place(sub, x, box.y + HEADER + PAD)
                x += sub.w + GAP_X


class Painter:
    """SVG for a flow; ``progress`` maps node paths to {"status", "counts"} when drawing an execution."""

    def __init__(self, flow: Flow, progress: dict[str, dict[str, Any]] | None = None, link: str | None = None,
                 selected: str = "") -> None:
        self.flow = flow
        self.progress = progress
        self.link = link  # URL with "{path}" placeholder, for state detail; None: no links
        self.selected = selected
        self.parts: list[str] = []

    def svg(self) -> str:
        root = layout_scope(self.flow.root, "")
        top = 40.0
        _place(root, PAD + 10, top + 30)
        width = root.w + 2 * PAD + 20
        height = top + 30 + root.h + 60
        start = root.boxes.get(root.start)
        cx = start.x + start.w / 2 if start else PAD + 10 + root.w / 2
        out = self.parts
        out.append(f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width:.0f} {height:.0f}" '
                   f'width="{width:.0f}" height="{height:.0f}" role="group" aria-label="flow graph">')
        out.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker>'
                   '<marker id="arrow-catch" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead-catch"/></marker></defs>')
        out.append(f'<circle cx="{cx:.0f}" cy="{top:.0f}" r="10" class="terminal"/>'
                   f'<text x="{cx + 16:.0f}" y="{top + 4:.0f}" class="terminal-label">Start</text>')
        if start:
            self._line(cx, top + 10, start.x + start.w / 2, start.y, "next")
        end_y = top + 30 + root.h + 30
        out.append(f'<circle cx="{cx:.0f}" cy="{end_y:.0f}" r="10" class="terminal end"/>'
                   f'<text x="{cx + 16:.0f}" y="{end_y + 4:.0f}" class="terminal-label">End</text>')
        for box in root.boxes.values():
            if box.state is not None and (box.state.end or box.state.type in ("Succeed", "Fail")):
                self._line(box.x + box.w / 2, box.y + box.h, cx, end_y - 10, "next")
        self._draw(root)
        out.append("</svg>")
        return "".join(out)

    def _draw(self, layout: Layout) -> None:
        back = layout.back
        right = max((b.x + b.w for b in layout.boxes.values()), default=0)
        for index, edge in enumerate(layout.edges):
            src, dst = layout.boxes[edge.source], layout.boxes[edge.target]
            if (edge.source, edge.target) in back or dst.y <= src.y:
                lane = right + 12 + (index % 3) * 6
                y1, y2 = src.y + src.h / 2, dst.y + dst.h / 2
                d = (f"M{src.x + src.w:.0f},{y1:.0f} L{lane:.0f},{y1:.0f} L{lane:.0f},{y2:.0f} "
                     f"L{dst.x + dst.w:.0f},{y2:.0f}")
                self._path(d, edge.kind, edge.label, lane + 2, (y1 + y2) / 2)
            elif dst.layer > src.layer + 1:
                lane = layout.ox + 8 + (index % 3) * 6
                x1, y1, y2 = src.x + 10, src.y + src.h, dst.y + dst.h / 2
                d = (f"M{x1:.0f},{y1:.0f} L{x1:.0f},{y1 + 8:.0f} L{lane:.0f},{y1 + 8:.0f} L{lane:.0f},{y2:.0f} "
                     f"L{dst.x:.0f},{y2:.0f}")
                self._path(d, edge.kind, edge.label, lane + 4, y1 + 20)
            else:
                self._line(src.x + src.w / 2, src.y + src.h, dst.x + dst.w / 2, dst.y, edge.kind, edge.label)
        for box in layout.boxes.values():
            self._box(box)
            for label, sub in box.scopes:
                sx, sy = sub.ox - 6, sub.oy - 16
                self.parts.append(f'<rect x="{sx:.0f}" y="{sy:.0f}" width="{sub.w + 12:.0f}" height="{sub.h + 24:.0f}" '
                                  f'class="scope" rx="6"/><text x="{sx + 6:.0f}" y="{sy + 11:.0f}" class="scope-label">'
                                  f'{escape(label)}</text>')
                self._draw(sub)
            if box.more:
                mx = box.x + box.w - PAD - NODE_W
                my = box.y + HEADER + PAD
                self.parts.append(f'<rect x="{mx:.0f}" y="{my:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
                                  f'class="more"/><text x="{mx + 10:.0f}" y="{my + 27:.0f}" class="more-label">'
                                  f'+{box.more} more branches</text>')

    def _line(self, x1: float, y1: float, x2: float, y2: float, kind: str, label: str = "") -> None:
        if abs(x1 - x2) < 1:
            d = f"M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}"
        else:
            mid = (y1 + y2) / 2
            d = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}"
        self._path(d, kind, label, (x1 + x2) / 2 + 4, (y1 + y2) / 2)

    def _path(self, d: str, kind: str, label: str, lx: float, ly: float, anchor: str = "start") -> None:
        marker = "arrow-catch" if kind == "catch" else "arrow"
        self.parts.append(f'<path d="{d}" class="edge edge-{kind}" marker-end="url(#{marker})"/>')
        if label:
            self.parts.append(f'<text x="{lx:.0f}" y="{ly:.0f}" class="edge-label edge-label-{kind}" '
                              f'text-anchor="{anchor}">{escape(label)}</text>')

    def _box(self, box: Box) -> None:
        state = box.state
        assert state is not None
        info = (self.progress or {}).get(box.path)
        status = info["status"] if info else ("notreached" if self.progress is not None else "")
        symbol, words = STATUSES.get(status, ("", ""))
        group = bool(box.scopes)
        classes = f"node node-{state.type.lower()}" + (f" st-{status}" if status else "") + (" group" if group else "")
        if box.path == self.selected:
            classes += " selected"
        title = f"{box.path} ({state.type})" + (f": {words}" if words else "")
        counts = ""
        if info and sum(info["counts"].values()) > 1:
            counts = " ".join(f"{STATUSES[s][0]}{n}" for s, n in info["counts"].items() if n)
            title += " - " + ", ".join(f"{n} {STATUSES[s][1]}" for s, n in info["counts"].items() if n)
        out = self.parts
        attrs = f'class="{classes}" data-path="{escape(box.path)}" data-status="{status}"'
        if self.link is not None:
            href = escape(self.link.replace("{path}", _quote(box.path)))
            out.append(f'<a href="{href}" {attrs} aria-label="{escape(title)}"><title>{escape(title)}</title>')
        else:
            out.append(f'<g {attrs}><title>{escape(title)}</title>')
        out.append(f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="8"/>')
        ty = box.y + (17 if group else 19)
        out.append(f'<text x="{box.x + 10:.0f}" y="{ty:.0f}" class="name">{escape(_short(state.name))}</text>')
        kind = state.type + (f" · {state.action}" if state.action else "")
        out.append(f'<text x="{box.x + 10:.0f}" y="{ty + 16 if not group else box.y + box.h - 8:.0f}" class="kind">'
                   f'{escape(_short(kind, 30))}</text>')
        if symbol:
            out.append(f'<text x="{box.x + box.w - 10:.0f}" y="{box.y + 19:.0f}" class="symbol" text-anchor="end">'
                       f'{symbol}</text>')
        if counts:
            out.append(f'<text x="{box.x + box.w - 10:.0f}" y="{box.y + box.h - 8:.0f}" class="counts" '
                       f'text-anchor="end">{escape(counts)}</text>')
        out.append("</a>" if self.link is not None else "</g>")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def flow_svg(flow: Flow, progress: dict[str, dict[str, Any]] | None = None, link: str | None = None,
             selected: str = "") -> str:
    return Painter(flow, progress, link, selected).svg()
