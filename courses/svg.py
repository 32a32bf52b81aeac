"""The concept graph drawn as SVG on the server: one column per prerequisite depth.

A concept with no prerequisite sits in the first column; any other one column to the right of
its deepest prerequisite, so every arrow points rightwards, from what is needed to what needs
it. Within a column, concepts are ordered by where their prerequisites sit, which keeps most
arrows short and uncrossed. Prior-knowledge concepts are drawn dashed and grey.

The drawing is an image (role="img") with a title and a text description that lists every
concept and edge, so a screen reader gets the whole graph as words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from courses.spec import CourseSpec

NODE_WIDTH = 190
NODE_HEIGHT = 46
COLUMN_GAP = 70
ROW_GAP = 18
PAD = 16
MAX_LABEL = 24


@dataclass(frozen=True)
class Node:
    slug: str
    name: str
    prior_knowledge: bool
    column: int
    row: int
    x: int
    y: int


def depths(graph: dict[str, list[str]]) -> dict[str, int]:
    """Each node's prerequisite depth: 0 without prerequisites, else 1 + the deepest one's.

    An edge that closes a cycle (which validation reports) is ignored rather than looped on.
    """
    depth: dict[str, int] = {}
    on_path: set[str] = set()

    def visit(node: str) -> int:
        if node in depth:
            return depth[node]
        on_path.add(node)
        below = [visit(r) for r in graph.get(node, []) if r in graph and r not in on_path]
        on_path.discard(node)
        depth[node] = 1 + max(below) if below else 0
        return depth[node]

    for node in graph:
        visit(node)
    return depth


def layout(spec: CourseSpec) -> list[Node]:
    graph = {c.slug: [r for r in c.requires if r != c.slug] for c in spec.concepts}
    depth = depths(graph)
    order = {c.slug: i for i, c in enumerate(spec.concepts)}
    columns: dict[int, list[str]] = {}
    for concept in spec.concepts:
        columns.setdefault(depth[concept.slug], []).append(concept.slug)
    rows: dict[str, int] = {}
    for column in sorted(columns):
        members = columns[column]
        if column > 0:

            def barycentre(slug: str) -> tuple[float, int]:
                placed = [rows[r] for r in graph[slug] if r in rows]
                return (sum(placed) / len(placed) if placed else 0.0, order[slug])

            members.sort(key=barycentre)
        for row, slug in enumerate(members):
            rows[slug] = row
    tallest = max((len(m) for m in columns.values()), default=0)
    concepts = {c.slug: c for c in spec.concepts}
    nodes = []
    for column, members in sorted(columns.items()):
        # Shorter columns are centred against the tallest one.
        offset = (tallest - len(members)) * (NODE_HEIGHT + ROW_GAP) // 2
        for slug in members:
            concept = concepts[slug]
            nodes.append(
                Node(
                    slug=slug,
                    name=concept.name or slug,
                    prior_knowledge=concept.prior_knowledge,
                    column=column,
                    row=rows[slug],
                    x=PAD + column * (NODE_WIDTH + COLUMN_GAP),
                    y=PAD + offset + rows[slug] * (NODE_HEIGHT + ROW_GAP),
                )
            )
    return nodes


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1].rstrip() + "…"


def mastery_fill(p_known: float | None) -> tuple[str, str]:
    """Node colour and caption for a student's mastery of a concept (None: not seen yet)."""
    if p_known is None:
        return "#ffffff", "not seen yet"
    if p_known >= 0.95:
        return "#cdebd5", f"mastered ({p_known:.0%})"
    if p_known >= 0.5:
        return "#fff1c2", f"learning ({p_known:.0%})"
    return "#fbdcd6", f"not yet ({p_known:.0%})"


def concept_graph_svg(
    spec: CourseSpec,
    *,
    element_id: str = "concept-graph",
    mastery: Mapping[str, float | None] | None = None,
) -> SafeString:
    """The course's concept graph as an inline <svg> element; with `mastery` (a student's
    P(known) by concept), each taught concept is coloured and captioned by it."""
    nodes = layout(spec)
    by_slug = {n.slug: n for n in nodes}
    names = {c.slug: c.name or c.slug for c in spec.concepts}
    columns = max((n.column for n in nodes), default=-1) + 1
    width = max(PAD * 2 + columns * NODE_WIDTH + max(columns - 1, 0) * COLUMN_GAP, 200)
    height = max((n.y + NODE_HEIGHT + PAD for n in nodes), default=PAD * 2 + NODE_HEIGHT)

    edges = []
    sentences = []
    for concept in spec.concepts:
        for required in concept.requires:
            start, end = by_slug.get(required), by_slug.get(concept.slug)
            if start is None or end is None or start is end:
                continue
            sentences.append(f"{names[concept.slug]} requires {names[required]}.")
            x1, y1 = start.x + NODE_WIDTH, start.y + NODE_HEIGHT // 2
            x2, y2 = end.x, end.y + NODE_HEIGHT // 2
            bend = max(abs(x2 - x1) // 2, 30)
            edges.append(
                format_html(
                    '<path class="edge" d="M{} {} C{} {}, {} {}, {} {}" fill="none" '
                    'stroke="#57606a" stroke-width="1.5" marker-end="url(#{}-arrow)"/>',
                    x1,
                    y1,
                    x1 + bend,
                    y1,
                    x2 - bend,
                    y2,
                    x2 - 2,
                    y2,
                    element_id,
                )
            )
    prior = [names[c.slug] for c in spec.concepts if c.prior_knowledge]
    summary = f"{len(nodes)} concept{'s' if len(nodes) != 1 else ''}"
    if prior:
        summary += f", of which prior knowledge: {', '.join(prior)}"
    description = " ".join([f"{summary}.", *sentences])

    boxes = []
    for node in nodes:
        found = spec.concept(node.slug)
        requires = ", ".join(names.get(r, r) for r in (found.requires if found else []))
        tooltip = f"{node.name} ({node.slug})"
        if node.prior_knowledge:
            tooltip += ", prior knowledge"
        if requires:
            tooltip += f"; requires {requires}"
        fill = "#eef1f4" if node.prior_knowledge else "#ffffff"
        caption = "prior knowledge" if node.prior_knowledge else _label(node.slug)
        if mastery is not None and not node.prior_knowledge:
            fill, caption = mastery_fill(mastery.get(node.slug))
            tooltip += f"; {caption}"
        boxes.append(
            format_html(
                '<g class="concept{}" data-slug="{}"><title>{}</title>'
                '<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{}" stroke="{}" '
                'stroke-width="1.5" stroke-dasharray="{}"/>'
                '<text x="{}" y="{}" text-anchor="middle" fill="#1b1f24">{}</text>'
                '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#57606a">{}</text>'
                "</g>",
                " prior-knowledge" if node.prior_knowledge else "",
                node.slug,
                tooltip,
                node.x,
                node.y,
                NODE_WIDTH,
                NODE_HEIGHT,
                fill,
                "#6e7781" if node.prior_knowledge else "#1f5fa8",
                "5 4" if node.prior_knowledge else "none",
                node.x + NODE_WIDTH // 2,
                node.y + 20,
                _label(node.name),
                node.x + NODE_WIDTH // 2,
                node.y + 36,
                caption,
            )
        )

    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" id="{id}" class="concept-graph" role="img" '
        'aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'font-family="system-ui, sans-serif" font-size="13">'
        '<title id="{id}-title">Concept graph of {course}</title>'
        '<desc id="{id}-desc">{desc}</desc>'
        '<defs><marker id="{id}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" '
        'fill="#57606a"/></marker></defs>'
        "{edges}{boxes}</svg>",
        id=element_id,
        w=width,
        h=height,
        course=spec.title,
        desc=description,
        edges=format_html_join("", "{}", ((e,) for e in edges)),
        boxes=format_html_join("", "{}", ((b,) for b in boxes)),
    )
