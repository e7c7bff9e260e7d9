"""Kubernetes quantities as exact Fractions: capacity arithmetic must agree everywhere, so no floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_QUANTITY = re.compile(r"^(%s)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$" % _NUMBER)


def parse_quantity(value):
    """Parse '128Gi', '500m', '64G', '1.5', '1e3', an int (or a float, read back from its shortest repr).

    Returns a Fraction. Raises ValueError naming the value when it is not a quantity.
    """
    if isinstance(value, bool):
        raise ValueError("quantity %r is a boolean, not a number" % (value,))
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("quantity %r is not a string or number" % (value,))
    return _parse_text(value)


@lru_cache(maxsize=1024)
def _parse_text(value):
    """A quantity's text as a Fraction, remembered: a fleet's nodes repeat a handful of capacities (Fractions are
    immutable, so one may be shared)."""
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError("%r is not a Kubernetes quantity (examples: 128Gi, 500m, 64G, 1.5, 1e3)" % (value,))
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Fraction(Decimal(number))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError("%r is not a Kubernetes quantity" % (value,))
    if suffix in _BINARY:
        return base * (1024 ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return base * Fraction(10) ** _DECIMAL[suffix]
    return base * Fraction(10) ** int(suffix[1:])


def _decimal_text(value):
    """Exact decimal digits of a Fraction whose denominator divides a power of ten, else None."""
    if value.denominator == 1:
        return str(value.numerator)
    for scale in range(1, 19):
        scaled = value * 10 ** scale
        if scaled.denominator == 1:
            return format(Decimal(scaled.numerator).scaleb(-scale), "f")
    return None


def format_quantity(value, style="auto"):
    """Format a quantity back to its shortest exact Kubernetes form.

    style 'binary' allows Ki..Ei (memory), 'decimal' k..E, 'auto' both; the shortest wins, binary first on a
    tie. Fractions use m/u/n as Kubernetes does ('500m', '1500m'). parse_quantity(format_quantity(q)) == q for
    every q with a finite decimal form.
    """
    value = Fraction(value)
    candidates = []
    if value.denominator == 1:
        candidates.append((2, str(value.numerator)))
        if value != 0 and style in ("auto", "binary"):
            for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
                if value % (1024 ** power) == 0:
                    candidates.append((0, "%d%s" % (value // (1024 ** power), suffix)))
                    break
    if value != 0 and style in ("auto", "decimal"):
        for suffix, power in sorted(_DECIMAL.items(), key=lambda item: -item[1]):
            if not suffix:
                continue
            scaled = value / Fraction(10) ** power
            if scaled.denominator == 1:
                candidates.append((1, "%d%s" % (scaled.numerator, suffix)))
                break
    if not candidates:
        text = _decimal_text(value)
        if text is not None:
            candidates.append((3, text))
    if not candidates:
        raise ValueError("%s has no exact decimal form" % (value,))
    return min(candidates, key=lambda item: (len(item[1]), item[0]))[1]


def whole_units(value, unit):
    """Whole number of `unit` in value (rounded down): memoryGB, GPU memory in GB."""
    return int(Fraction(value) // Fraction(unit))


def plain_number(value):
    """An int when the Fraction is whole, else its exact quantity string (for cpuCount-like fields)."""
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else format_quantity(value, "decimal")
