"""Compare two OpenAPI 3.1 documents and sort the differences into breaking and additive.

Breaking (a client built against ``old`` can fail against ``new``):

* a removed path or operation, request media type, response status or response media type;
* a removed field (request or response property), parameter, or enum value; a rename is a
  removal plus an addition, so it is caught as the removal;
* a newly required input: request property, parameter or request body;
* a response field that was always present and may now be missing;
* a changed type: a request no longer accepting a type it accepted, a response that may now
  carry a type it did not (``string`` -> ``string | null`` is breaking for responses only),
  or a changed ``format``;
* a tightened request constraint (``maxLength``, ``maximum``, ``maxItems`` lower;
  ``minLength``, ``minimum``, ``minItems`` higher).

Additive: new paths, operations, optional inputs, response fields, enum values, statuses.
``$ref``s are resolved, so renaming a component schema is neither. Path parameters are matched
by position, so renaming ``{id}`` to ``{booking_id}`` is neither.

Paths passed as ``outside`` are not part of the contract being guarded (routes that follow
another party's protocol): what changed on them is listed in ``Report.outside``, never as
breaking or additive.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TIGHTER_IF_LOWER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_TIGHTER_IF_HIGHER = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_ANY = "any"

Json = dict[str, Any]


@dataclass
class Report:
    breaking: list[str] = field(default_factory=list)
    additive: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def compare(old: Json, new: Json, *, outside: Collection[str] = ()) -> Report:
    """What changed from ``old`` to ``new``, sorted into breaking and additive notes; changes
    on the paths in ``outside`` (templates as in the document) go to ``outside`` instead."""
    contract = Report()
    beyond = Report()
    skipped = {_template_key(p) for p in outside}
    old_paths = {_template_key(p): p for p in old.get("paths", {})}
    new_paths = {_template_key(p): p for p in new.get("paths", {})}
    for key, old_path in old_paths.items():
        report = beyond if key in skipped else contract
        if key not in new_paths:
            report.breaking.append(f"{old_path}: path removed")
            continue
        new_path = new_paths[key]
        old_item, new_item = old["paths"][old_path], new["paths"][new_path]
        for method in _METHODS:
            if method not in old_item:
                if method in new_item:
                    report.additive.append(f"{method.upper()} {new_path}: operation added")
                continue
            label = f"{method.upper()} {old_path}"
            if method not in new_item:
                report.breaking.append(f"{label}: operation removed")
                continue
            _Operation(old, new, label, report).compare(old_item[method], new_item[method])
    for key, new_path in new_paths.items():
        if key not in old_paths:
            (beyond if key in skipped else contract).additive.append(f"{new_path}: path added")
    # A nullable enum is one schema seen as two variants: report each finding once.
    return Report(
        breaking=list(dict.fromkeys(contract.breaking)),
        additive=list(dict.fromkeys(contract.additive)),
        outside=list(dict.fromkeys(beyond.breaking + beyond.additive)),
    )


def _template_key(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


class _Operation:
    def __init__(self, old_doc: Json, new_doc: Json, label: str, report: Report) -> None:
        self.old_doc = old_doc
        self.new_doc = new_doc
        self.label = label
        self.report = report

    def breaking(self, where: str, what: str) -> None:
        self.report.breaking.append(f"{self.label}: {where}: {what}")

    def additive(self, where: str, what: str) -> None:
        self.report.additive.append(f"{self.label}: {where}: {what}")

    def compare(self, old: Json, new: Json) -> None:
        self._parameters(old.get("parameters", []), new.get("parameters", []))
        self._request_body(old.get("requestBody"), new.get("requestBody"))
        self._responses(old.get("responses", {}), new.get("responses", {}))

    # -- parameters ----------------------------------------------------------------------------

    def _parameters(self, old: list[Json], new: list[Json]) -> None:
        old_params = [_resolve(self.old_doc, p) for p in old]
        new_params = [_resolve(self.new_doc, p) for p in new]
        old_path = [p for p in old_params if p.get("in") == "path"]
        new_path = [p for p in new_params if p.get("in") == "path"]
        for old_param, new_param in zip(old_path, new_path, strict=False):
            self._schema(old_param.get("schema", {}), new_param.get("schema", {}), "request", _where(old_param))
        old_other = {_param_key(p): p for p in old_params if p.get("in") != "path"}
        new_other = {_param_key(p): p for p in new_params if p.get("in") != "path"}
        for key, before in old_other.items():
            where = _where(before)
            after = new_other.get(key)
            if after is None:
                self.breaking(where, "parameter removed")
                continue
            if after.get("required") and not before.get("required"):
                self.breaking(where, "parameter is now required")
            self._schema(before.get("schema", {}), after.get("schema", {}), "request", where)
        for key, added in new_other.items():
            if key not in old_other:
                if added.get("required"):
                    self.breaking(_where(added), "new required parameter")
                else:
                    self.additive(_where(added), "optional parameter added")

    # -- request body --------------------------------------------------------------------------

    def _request_body(self, old_raw: Json | None, new_raw: Json | None) -> None:
        old = _resolve(self.old_doc, old_raw) if old_raw else None
        new = _resolve(self.new_doc, new_raw) if new_raw else None
        if new is None:
            if old is not None:
                self.breaking("request body", "removed")
            return
        if new.get("required") and not (old or {}).get("required"):
            self.breaking("request body", "is now required")
        if old is None:
            self.additive("request body", "added")
            return
        old_content, new_content = old.get("content", {}), new.get("content", {})
        for media_type, media in old_content.items():
            if media_type not in new_content:
                self.breaking("request body", f"media type {media_type} no longer accepted")
                continue
            self._schema(media.get("schema", {}), new_content[media_type].get("schema", {}), "request", "request body")

    # -- responses -----------------------------------------------------------------------------

    def _responses(self, old: Json, new: Json) -> None:
        for status, old_raw in old.items():
            where = f"response {status}"
            if status not in new:
                self.breaking(where, "status removed")
                continue
            old_content = _resolve(self.old_doc, old_raw).get("content", {})
            new_content = _resolve(self.new_doc, new[status]).get("content", {})
            for media_type, media in old_content.items():
                if media_type not in new_content:
                    self.breaking(where, f"media type {media_type} removed")
                    continue
                self._schema(media.get("schema", {}), new_content[media_type].get("schema", {}), "response", where)
        for status in new:
            if status not in old:
                self.additive(f"response {status}", "status added")

    # -- schemas -------------------------------------------------------------------------------

    def _schema(
        self, old: Json, new: Json, side: str, where: str, path: str = "", seen: frozenset[str] = frozenset()
    ) -> None:
        refs = f"{old.get('$ref')}|{new.get('$ref')}"
        if "$ref" in old and "$ref" in new:
            if refs in seen:
                return  # a recursive schema: this pair is being compared further up
            seen = seen | {refs}
        old_variants = _variants(self.old_doc, old)
        new_variants = _variants(self.new_doc, new)
        at = _at(where, path)
        if side == "request":
            for kind in old_variants:
                if not _accepts(new_variants, kind):
                    self.breaking(at, f"no longer accepts {kind}")
        else:
            for kind in new_variants:
                if not _accepts(old_variants, kind):
                    self.breaking(at, f"may now be {kind}")
        for kind, old_variant in old_variants.items():
            new_variant = new_variants.get(kind)
            if new_variant is not None:
                self._variant(old_variant, new_variant, side, where, path, seen)

    def _variant(self, old: Json, new: Json, side: str, where: str, path: str, seen: frozenset[str]) -> None:
        at = _at(where, path)
        if "format" in old and "format" in new and old["format"] != new["format"]:
            self.breaking(at, f"format changed from {old['format']} to {new['format']}")
        if "enum" in old:
            still = new["enum"] if "enum" in new else old["enum"]
            removed = [v for v in old["enum"] if v not in still]
            added = [v for v in new.get("enum", []) if v not in old["enum"]]
            for value in removed:
                self.breaking(at, f"enum value {value!r} removed")
            for value in added:
                self.additive(at, f"enum value {value!r} added")
        if side == "request":
            self._constraints(old, new, at)
        if "items" in old and "items" in new:
            self._schema(old["items"], new["items"], side, where, f"{path}[]", seen)
        self._properties(old, new, side, where, path, seen)

    def _constraints(self, old: Json, new: Json, at: str) -> None:
        for name in _TIGHTER_IF_LOWER:
            if name in new and (name not in old or new[name] < old[name]):
                self.breaking(at, f"{name} tightened to {new[name]}")
        for name in _TIGHTER_IF_HIGHER:
            if name in new and (name not in old or new[name] > old[name]):
                self.breaking(at, f"{name} tightened to {new[name]}")

    def _properties(self, old: Json, new: Json, side: str, where: str, path: str, seen: frozenset[str]) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_prop in old_props.items():
            field_path = f"{path}.{name}" if path else name
            at = _at(where, field_path)
            if name not in new_props:
                self.breaking(at, "removed")
                continue
            if side == "request" and name in new_required and name not in old_required:
                self.breaking(at, "is now required")
            if side == "response" and name in old_required and name not in new_required:
                self.breaking(at, "is no longer always present")
            self._schema(old_prop, new_props[name], side, where, field_path, seen)
        for name in new_props:
            if name in old_props:
                continue
            field_path = f"{path}.{name}" if path else name
            if side == "request" and name in new_required:
                self.breaking(_at(where, field_path), "new required field")
            else:
                self.additive(_at(where, field_path), "added")


def _at(where: str, path: str) -> str:
    return f"{where} field `{path}`" if path else where


def _param_key(param: Json) -> tuple[str, str]:
    name = str(param.get("name", ""))
    return str(param.get("in", "")), name.lower() if param.get("in") == "header" else name


def _where(param: Json) -> str:
    return f"{param.get('in')} parameter `{param.get('name')}`"


def _resolve(doc: Json, node: Json) -> Json:
    """``node`` with ``$ref``s followed (``#/components/...`` only, as Litestar writes them)."""
    for _ in range(32):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    raise ValueError("$ref chain too long")


def _variants(doc: Json, schema: Json) -> dict[str, Json]:
    """A schema as ``{type: the schema for values of that type}``: ``oneOf``/``anyOf`` branches
    and ``type`` lists are split, keywords beside them apply to every branch. A schema without
    a type accepts anything (``any``)."""
    schema = _resolve(doc, schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    outer = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    if branches:
        variants: dict[str, Json] = {}
        for branch in branches:
            for kind, variant in _variants(doc, {**outer, **_resolve(doc, branch)}).items():
                variants.setdefault(kind, variant)
        return variants
    types = schema.get("type")
    if types is None:
        return {_ANY: schema}
    return dict.fromkeys([types] if isinstance(types, str) else types, schema)


def _accepts(variants: dict[str, Json], kind: str) -> bool:
    return kind in variants or _ANY in variants or (kind == "integer" and "number" in variants)
