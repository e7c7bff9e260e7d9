"""NVIDIA OSMO's pool rules: pod templates merged in order, default variables, resource validation rules."""

from __future__ import annotations

import copy
import re

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import parse_quantity

OPERATORS = {
    "EQ": lambda a, b: a == b, "NE": lambda a, b: a != b, "LT": lambda a, b: a < b,
    "LE": lambda a, b: a <= b, "GT": lambda a, b: a > b, "GE": lambda a, b: a >= b,
}
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _named_list(value):
    return isinstance(value, list) and value and all(isinstance(item, dict) and "name" in item for item in value)


def merge(base, override):
    """Later wins: dicts deep-merge, lists of dicts with `name` merge item by name (new names appended in
    order), any other value is replaced. Inputs are not modified."""
    if isinstance(base, dict) and isinstance(override, dict):
        result = copy.deepcopy(base)
        for key, value in override.items():
            result[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return result
    if _named_list(base) and _named_list(override):
        result = [copy.deepcopy(item) for item in base]
        index = dict((item["name"], position) for position, item in enumerate(result))
        for item in override:
            if item["name"] in index:
                result[index[item["name"]]] = merge(result[index[item["name"]]], item)
            else:
                index[item["name"]] = len(result)
                result.append(copy.deepcopy(item))
        return result
    return copy.deepcopy(override)


def merge_pod_templates(templates):
    """Merge pod templates in order: common templates first, then the platform's overrides."""
    result = {}
    for template in templates:
        result = merge(result, template)
    return result


def resolve_variables(pool_common, platform=None, user=None):
    """Default variables: pool common values, then the platform's overrides, then the user's values."""
    result = dict(pool_common or {})
    result.update(platform or {})
    result.update(user or {})
    return result


def substitute(text, variables):
    """Replace {{NAME}} with the variable's value; raises FabricError naming every unknown variable."""
    text = str(text)
    missing = sorted(set(name for name in _VARIABLE.findall(text) if name not in variables))
    raise_if(["unknown variable %s in %r" % (name, text) for name in missing])
    return _VARIABLE.sub(lambda match: str(variables[match.group(1)]), text)


def _compare(operator, left, right):
    try:
        return OPERATORS[operator](parse_quantity(left), parse_quantity(right))
    except ValueError:
        if operator in ("EQ", "NE"):
            return OPERATORS[operator](left, right)
        raise


def validation_failures(rules, variables):
    """Evaluate resource validation rules; returns the assert messages (variables substituted) of failing rules.

    rule: {operator: EQ|NE|LT|LE|GT|GE, left_operand, right_operand, assert_message}; operands are compared as
    exact quantities ('64Gi' vs '65536Mi' are equal). Malformed rules raise FabricError listing each.
    """
    failures, errors = [], []
    for index, rule in enumerate(rules):
        operator = str(rule.get("operator", "")).upper()
        if operator not in OPERATORS:
            errors.append("rule %d: operator %r is not one of %s"
                          % (index, rule.get("operator"), ", ".join(sorted(OPERATORS))))
            continue
        try:
            left = substitute(rule.get("left_operand", ""), variables)
            right = substitute(rule.get("right_operand", ""), variables)
            ok = _compare(operator, left, right)
        except ValueError as exc:
            errors.append("rule %d: %s" % (index, exc))
            continue
        if not ok:
            message = rule.get("assert_message") or "%s %s %s does not hold" % (left, operator, right)
            try:
                failures.append(substitute(message, variables))
            except ValueError:
                failures.append(str(message))
    raise_if(errors)
    return failures
