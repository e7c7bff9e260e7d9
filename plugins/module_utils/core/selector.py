"""Kubernetes label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) matched locally, so a module that has
already listed the nodes needs no second request to resolve a selector."""

from __future__ import annotations

import re

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if

_SET = re.compile(r"^\s*(?P<key>[^\s!=,()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*(?P<key>[^\s!=,()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=,()]*)\s*$")
_EXISTS = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=,()]+)\s*$")


def _split(selector):
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse_selector(selector):
    """Selector string -> tuple of (key, op, values) requirements; FabricError naming each bad term."""
    requirements, errors = [], []
    for term in _split(selector or ""):
        match = _SET.match(term)
        if match:
            values = tuple(sorted(v.strip() for v in match.group("values").split(",") if v.strip()))
            requirements.append((match.group("key"), match.group("op"), values))
            continue
        match = _EQUALITY.match(term)
        if match:
            op = "!=" if match.group("op") == "!=" else "="
            requirements.append((match.group("key"), op, (match.group("value"),)))
            continue
        match = _EXISTS.match(term)
        if match:
            requirements.append((match.group("key"), "!" if match.group("neg") else "exists", ()))
            continue
        errors.append("node_selector term %r is not a label selector requirement" % term.strip())
    if selector is not None and not requirements and not errors:
        errors.append("node_selector %r selects nothing: it has no requirement" % selector)
    raise_if(errors)
    return tuple(requirements)


def matches(requirements, labels):
    """True when labels satisfy every requirement."""
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True
