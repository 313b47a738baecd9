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

NODE_W, NODE_H = 176, 58
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
    rows: dict[int, tuple[float, float]] = field(default_factory=dict)  # layer → (top, bottom), relative
    left: float = 0  # width of the left lane (edges that skip layers run down it)


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
            label = "Processor (each item: a child execution)" if state.map_run is not None else "Iterator (each item)"
            box.scopes = [(label, layout_scope(state.processor, f"{path}/Item/"))]
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
    _order_by_parents(layers, succ, back)
    width = max((sum(boxes[n].w for n in row) + GAP_X * (len(row) - 1) for row in layers.values()), default=NODE_W)
    # an edge that skips layers runs down a lane on the left instead of through the states between
    skips = any(layer[t] > layer[n] + 1 for n in names for t, _, _ in succ[n] if (n, t) not in back)
    left = LANE if skips else 0
    y = 0.0
    rows: dict[int, tuple[float, float]] = {}
    for index in sorted(layers):
        row = layers[index]
        row_w = sum(boxes[n].w for n in row) + GAP_X * (len(row) - 1)
        x = left + (width - row_w) / 2
        row_h = max(boxes[n].h for n in row)
        for n in row:
            boxes[n].x, boxes[n].y, boxes[n].layer = x, y, index
            x += boxes[n].w + GAP_X
        rows[index] = (y, y + row_h)
        y += row_h + GAP_Y
    has_back = bool(back)
    edges = [Edge(n, t, kind, label) for n in names for t, kind, label in succ[n]]
    return Layout(boxes, edges, scope.start_at, left + width + (LANE if has_back else 0), max(0.0, y - GAP_Y), back,
                  rows=rows, left=left)


def _order_by_parents(layers: dict[int, list[str]], succ: dict[str, list[tuple[str, str, str]]],
                      back: set[tuple[str, str]]) -> None:
    """Order each row by where its states' parents sit (the mean of their places in their rows, a
    barycenter pass), so edges between rows cross less; the depth-first order breaks ties."""
    place: dict[str, float] = {}
    parents: dict[str, list[str]] = {}
    for node, targets in succ.items():
        for target, _, _ in targets:
            if (node, target) not in back:
                parents.setdefault(target, []).append(node)
    for index in sorted(layers):
        row = layers[index]
        if index:
            keys = {}
            for i, n in enumerate(row):
                known = [place[p] for p in parents.get(n, []) if p in place]
                keys[n] = (sum(known) / len(known) if known else 2.0, i)
            row.sort(key=keys.__getitem__)
        for i, n in enumerate(row):
            place[n] = (i + 0.5) / len(row)


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
        self.remote: list[str] = []  # distributed Maps' paths + "/": their states run in child executions

    def svg(self) -> str:
        root = layout_scope(self.flow.root, "")
        top = 40.0
        _place(root, PAD + 10, top + 30)
        end_lane = PAD + 10 + root.w + 16
        width = end_lane + 16 + PAD
        last = root.oy + root.h + 16
        end_y = last + 26
        height = end_y + 30
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
            self._route([(cx, top + 10), (cx, start.y)], "next", "", "", start.path)
        # Succeed and Fail states end the flow themselves: only `End: true` states lead to End
        enders = [b for b in root.boxes.values() if b.state is not None and b.state.end
                  and b.state.type not in ("Succeed", "Fail")]
        if enders:
            out.append(f'<circle cx="{cx:.0f}" cy="{end_y:.0f}" r="10" class="terminal end"/>'
                       f'<text x="{cx + 16:.0f}" y="{end_y + 4:.0f}" class="terminal-label">End</text>')
        last_layer = max(root.rows, default=0)
        for box in enders:
            x = box.x + box.w / 2
            below = root.oy + root.rows[box.layer][1] + GAP_Y / 2
            if box.layer == last_layer:
                points = [(x, box.y + box.h), (x, last), (cx, last), (cx, end_y - 10)]
            else:
                points = [(x, box.y + box.h), (x, below), (end_lane, below), (end_lane, last), (cx, last),
                          (cx, end_y - 10)]
            self._route(points, "next", "", box.path, "")
        self._draw(root)
        out.append("</svg>")
        return "".join(out)

    def _draw(self, layout: Layout) -> None:
        """Edges are routed orthogonally through the gaps between rows and down the lanes beside
        them, so no edge crosses a box that is not its source or target."""
        right = max((b.x + b.w for b in layout.boxes.values()), default=0)
        outs: dict[str, list[int]] = {}
        ins: dict[str, list[int]] = {}
        for index, edge in enumerate(layout.edges):
            outs.setdefault(edge.source, []).append(index)
            ins.setdefault(edge.target, []).append(index)
        # leave and enter in the order of the other end, left to right, so the edges do not cross there
        boxes, edges = layout.boxes, layout.edges
        for found in outs.values():
            found.sort(key=lambda i: boxes[edges[i].target].x + boxes[edges[i].target].w / 2)
        for found in ins.values():
            found.sort(key=lambda i: boxes[edges[i].source].x + boxes[edges[i].source].w / 2)
        for index, edge in enumerate(layout.edges):
            src, dst = layout.boxes[edge.source], layout.boxes[edge.target]
            shift = (index % 3 - 1) * 5
            sx = _spread(src, outs[edge.source].index(index), len(outs[edge.source]))
            dx = _spread(dst, ins[edge.target].index(index), len(ins[edge.target]))
            sy, dy = src.y + src.h, dst.y
            below = layout.oy + layout.rows[src.layer][1] + GAP_Y / 2 + shift
            if (edge.source, edge.target) in layout.back or dst.layer <= src.layer:
                lane = right + 12 + (index % 3) * 6
                above = layout.oy + layout.rows[dst.layer][0] - 14 + shift / 2
                points = [(sx, sy), (sx, below), (lane, below), (lane, above), (dx, above), (dx, dy)]
            elif dst.layer > src.layer + 1:
                lane = layout.ox + 8 + (index % 3) * 6
                above = layout.oy + layout.rows[dst.layer][0] - GAP_Y / 2 + shift
                points = [(sx, sy), (sx, below), (lane, below), (lane, above), (dx, above), (dx, dy)]
            else:
                points = [(sx, sy), (sx, below), (dx, below), (dx, dy)]
            self._route(points, edge.kind, edge.label, src.path, dst.path)
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

    def _route(self, points: list[tuple[float, float]], kind: str, label: str, source: str, target: str) -> None:
        clean = [points[0]]
        for point in points[1:]:
            if abs(point[0] - clean[-1][0]) > 0.5 or abs(point[1] - clean[-1][1]) > 0.5:
                clean.append(point)
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in clean)
        marker = "arrow-catch" if kind == "catch" else "arrow"
        self.parts.append(f'<path d="{d}" class="edge edge-{kind}" marker-end="url(#{marker})" '
                          f'data-from="{escape(source)}" data-to="{escape(target)}"/>')
        if label:
            x, y = clean[-1]
            self.parts.append(f'<text x="{x + 4:.0f}" y="{y - 5:.0f}" class="edge-label edge-label-{kind}">'
                              f'{escape(label)}</text>')

    def _items(self, box: Box, info: dict[str, Any] | None) -> str:
        """How many items a Map went over: its Map Run's total, or how often its iterator started."""
        if info and info.get("map_run"):
            return _item_text(info["map_run"]["counts"]["Total"])
        state = box.state
        if self.progress is None or state is None or state.processor is None:
            return ""
        first = (self.progress or {}).get(f"{box.path}/Item/{state.processor.start_at}")
        return _item_text(sum(first["counts"].values())) if first else ""

    def _box(self, box: Box) -> None:
        state = box.state
        assert state is not None
        info = (self.progress or {}).get(box.path)
        status = info["status"] if info else ("notreached" if self.progress is not None else "")
        if state.type == "Map" and state.map_run is not None:
            self.remote.append(box.path + "/")
        elif any(box.path.startswith(prefix) for prefix in self.remote):
            status = ""  # the Map Run page has these; the parent's history does not
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
        if info and info.get("attempts"):
            attempts = info["attempts"]
            counts = (counts + " · " if counts else "") + f"{attempts} attempt{'' if attempts == 1 else 's'}"
            title += f" - {attempts} attempt{'' if attempts == 1 else 's'}"
        kind = state.type + (f" · {state.action}" if state.action else "")
        if state.type == "Parallel":
            kind += f" · {len(state.branches)} branch{'' if len(state.branches) == 1 else 'es'}"
        elif state.type == "Map":
            items = self._items(box, info)
            kind += (" · distributed" if state.map_run is not None else "") + (f" · {items}" if items else "")
        out = self.parts
        attrs = f'class="{classes}" data-path="{escape(box.path)}" data-status="{status}"'
        if self.link is not None:
            href = escape(self.link.replace("{path}", _quote(box.path)))
            out.append(f'<a href="{href}" {attrs} aria-label="{escape(title)}"><title>{escape(title)}</title>')
        else:
            out.append(f'<g {attrs}><title>{escape(title)}</title>')
        out.append(f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="8"/>')
        ty = box.y + (17 if group else 18)
        out.append(f'<text x="{box.x + 10:.0f}" y="{ty:.0f}" class="name">{escape(_short(state.name))}</text>')
        out.append(f'<text x="{box.x + 10:.0f}" y="{ty + 15 if not group else box.y + box.h - 8:.0f}" class="kind">'
                   f'{escape(_short(kind, max(30, int(box.w / 6.5))))}</text>')
        if symbol:
            out.append(f'<text x="{box.x + box.w - 10:.0f}" y="{box.y + 19:.0f}" class="symbol" text-anchor="end">'
                       f'{symbol}</text>')
        if counts:
            cx, cy = (box.x + box.w - 30, box.y + 17) if group else (box.x + box.w - 10, box.y + box.h - 7)
            out.append(f'<text x="{cx:.0f}" y="{cy:.0f}" class="counts" text-anchor="end">{escape(counts)}</text>')
        out.append("</a>" if self.link is not None else "</g>")


def _item_text(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"


def _spread(box: Box, k: int, n: int) -> float:
    """Where the k-th of n edges leaves or enters a box: spread along its side, so they do not overlap."""
    if n <= 1:
        return box.x + box.w / 2
    inset = min(box.w / 4, 30)
    return box.x + inset + (box.w - 2 * inset) * k / (n - 1)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def flow_svg(flow: Flow, progress: dict[str, dict[str, Any]] | None = None, link: str | None = None,
             selected: str = "") -> str:
    return Painter(flow, progress, link, selected).svg()
