"""Reading recorded spans as traces: by trace id, as a tree, as text."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan


def hex_trace_id(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def in_trace(spans: list[ReadableSpan], trace_id: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if hex_trace_id(s) == trace_id), key=lambda s: s.start_time or 0)


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, f"expected one span {name!r}, found {len(found)}: {[s.name for s in spans]}"
    return found[0]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in spans if s.context.span_id == span.parent.span_id), None)


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """Names from the span's parent up to the root."""
    names = []
    current = parent_of(span, spans)
    while current is not None:
        names.append(current.name)
        current = parent_of(current, spans)
    return names


def render(spans: list[ReadableSpan], keep: Callable[[ReadableSpan], bool] = lambda _s: True) -> str:
    """The trace as an indented tree: name, kind, duration, and the attributes people look for."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        children = sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0)
        hidden = [s for s in children if not keep(s)]
        for span in children:
            if not keep(span):
                continue
            took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            detail = _detail(span)
            links = "".join(f" link->{format(link.context.span_id, '016x')}" for link in span.links)
            lines.append(
                f"{'  ' * depth}{span.name} [{span.kind.name.lower()}] {took:.1f} ms"
                f" span={format(span.context.span_id, '016x')}{detail}{links}"
            )
            walk(span.context.span_id, depth + 1)
        if hidden:
            counts: dict[str, int] = {}
            for span in hidden:
                system = str((span.attributes or {}).get("db.system", "other"))
                counts[system] = counts.get(system, 0) + 1
            summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
            lines.append(f"{'  ' * depth}(+ {summary} calls)")

    walk(None, 0)
    return "\n".join(lines)


def _detail(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    keys = ("http.route", "http.url", "url.full", "http.status_code", "http.response.status_code", "hub.job.outcome")
    found = [f"{k}={attributes[k]}" for k in keys if k in attributes]
    return f" ({', '.join(found)})" if found else ""
