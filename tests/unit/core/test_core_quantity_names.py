"""Quantities (exact), name rules and stable generated names."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    dns_label_errors, dns_subdomain_errors, family_vendor, generated_worker_pool_name, label_key_errors,
    label_value_errors, normalise_architecture, normalise_family, quorum)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import (
    format_quantity, parse_quantity, plain_number, whole_units)


@pytest.mark.parametrize("text,value", [
    ("128Gi", 128 * 1024 ** 3), ("500m", Fraction(1, 2)), ("64G", 64 * 10 ** 9), ("16", 16), ("1.5", Fraction(3, 2)),
    ("1e3", 1000), ("1E3", 1000), ("1E", 10 ** 18), ("0.1", Fraction(1, 10)), ("-2Ki", -2048), (7, 7),
    (0.1, Fraction(1, 10)), ("2.5e-3", Fraction(1, 400))])
def test_quantities_parse_exactly(text, value):
    assert parse_quantity(text) == value
    assert isinstance(parse_quantity(text), Fraction)


@pytest.mark.parametrize("text", ["", "Gi", "1.2.3", "12 Gi", "1GiB", "abc", True])
def test_bad_quantities_are_rejected(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("value,style,text", [
    (128 * 1024 ** 3, "binary", "128Gi"), (Fraction(1, 2), "auto", "500m"), (64 * 10 ** 9, "auto", "64G"),
    (1000, "decimal", "1k"), (16, "auto", "16"), (0, "auto", "0"), (Fraction(3, 2), "auto", "1500m")])
def test_quantities_format_back(value, style, text):
    assert format_quantity(value, style) == text


@settings(max_examples=100, deadline=None)
@given(st.integers(-10 ** 12, 10 ** 12), st.sampled_from(["", "m", "k", "Ki", "Mi", "Gi", "G", "u"]),
       st.sampled_from(["auto", "binary", "decimal"]))
def test_format_then_parse_is_identity(number, suffix, style):
    value = parse_quantity("%d%s" % (number, suffix))
    assert parse_quantity(format_quantity(value, style)) == value


def test_whole_units_and_plain_numbers():
    assert whole_units(parse_quantity("65843292Ki"), 1024 ** 3) == 62
    assert plain_number(Fraction(16)) == 16 and plain_number(Fraction(1, 2)) == "500m"


@pytest.mark.parametrize("spelling", ["NVIDIA A100", "NVIDIA-A100", "nvidia-a100", " nvidia_a100 ", "NVIDIA  A100"])
def test_family_spellings_normalise_to_one_family(spelling):
    assert normalise_family(spelling) == "NVIDIA-A100"
    assert family_vendor(spelling) == "nvidia"


def test_architectures_normalise_to_seed_spelling():
    assert [normalise_architecture(a) for a in ("amd64", "arm64", "AMD64", "aarch64", "s390x")] == [
        "AMD64", "ARM64", "AMD64", "ARM64", None]


def test_name_errors_say_what_is_wrong_and_by_how_much():
    assert dns_label_errors("x" * 64) == ["name '%s' is 64 characters; the limit is 63" % ("x" * 64)]
    assert dns_label_errors("x" * 63) == []
    assert "is not a DNS-1123 label" in dns_label_errors("Bad_Name")[0]
    assert dns_label_errors("-a") and dns_label_errors("a-") and not dns_label_errors("0a")
    assert label_value_errors("v" * 64) == ["label value '%s' is 64 characters; the limit is 63" % ("v" * 64)]
    assert label_value_errors("") == [] and label_value_errors("A100-100G") == []
    assert label_value_errors("bad value")
    assert dns_subdomain_errors("runwhere.ai") == [] and dns_subdomain_errors("Run_Where")
    assert label_key_errors("runwhere.ai/pool") == [] and label_key_errors("runwhere.ai/" + "k" * 64)


def test_generated_worker_pool_names_are_stable_and_distinct():
    first = generated_worker_pool_name("vision", "cluster", 0)
    assert first == generated_worker_pool_name("vision", "cluster", 0)
    assert first != generated_worker_pool_name("vision", "cluster", 1)
    assert first != generated_worker_pool_name("other", "cluster", 0)
    assert len(first) == 36 and dns_label_errors(first, "worker pool name") == []


def test_quorum_is_a_majority():
    assert [quorum(n) for n in (1, 3, 5)] == [1, 2, 3]
