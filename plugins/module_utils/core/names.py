"""Name rules shared by every object: DNS-1123, label keys and values, GPU families, generated names.

Validators return a list of error strings (empty when valid) so callers can collect all errors of an input.
"""

from __future__ import annotations

import re
import uuid

from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import family_name

LABEL_LIMIT = 63
# The largest count (GPUs, replicas, nodes) any option takes: more than any cluster holds, and far below where
# the API server stops storing a quantity exactly (a larger number would be stored otherwise and rewritten by
# every run).
MAX_COUNT = 1000000
SUBDOMAIN_LIMIT = 253
MANAGED_BY = {"app.kubernetes.io/managed-by": "gpufabric"}
API_VERSION = "gpufabric.io/v1alpha1"
# Fixed base for uuid5 names: the same compute pool gets the same generated names on every run and machine.
NAME_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "gpufabric.io")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_ARCHITECTURES = {"amd64": "AMD64", "x86_64": "AMD64", "arm64": "ARM64", "aarch64": "ARM64"}


def managed(obj):
    """Whether the platform made this object (it carries app.kubernetes.io/managed-by: gpufabric)."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in MANAGED_BY.items())


def _too_long(what, value, limit):
    return "%s '%s' is %d characters; the limit is %d" % (what, value, len(value), limit)


def dns_label_errors(value, what="name"):
    """RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, at most 63 characters."""
    if not isinstance(value, str) or not value:
        return ["%s must be a non-empty string, got %r" % (what, value)]
    errors = []
    if len(value) > LABEL_LIMIT:
        errors.append(_too_long(what, value, LABEL_LIMIT))
    if not _DNS_LABEL.match(value):
        errors.append("%s '%s' is not a DNS-1123 label (lowercase letters, digits and '-', "
                      "starting and ending with a letter or digit)" % (what, value))
    return errors


def dns_subdomain_errors(value, what="name"):
    """RFC 1123 subdomain: dot-separated DNS labels, at most 253 characters."""
    if not isinstance(value, str) or not value:
        return ["%s must be a non-empty string, got %r" % (what, value)]
    if len(value) > SUBDOMAIN_LIMIT:
        return [_too_long(what, value, SUBDOMAIN_LIMIT)]
    if not all(_DNS_LABEL.match(part) for part in value.split(".")):
        return ["%s '%s' is not a DNS-1123 subdomain (dot-separated lowercase labels)" % (what, value)]
    return []


def label_value_errors(value, what="label value"):
    """Kubernetes label value: empty, or at most 63 of [A-Za-z0-9-_.] with alphanumeric ends."""
    if not isinstance(value, str):
        return ["%s must be a string, got %r" % (what, value)]
    errors = []
    if len(value) > LABEL_LIMIT:
        errors.append(_too_long(what, value, LABEL_LIMIT))
    if not _LABEL_VALUE.match(value):
        errors.append("%s '%s' may contain only letters, digits, '-', '_' and '.', and must start and end "
                      "with a letter or digit" % (what, value))
    return errors


def label_key_errors(key, what="label key"):
    """Kubernetes label key: optional DNS-subdomain prefix and '/', then a name of at most 63 characters."""
    if not isinstance(key, str) or not key:
        return ["%s must be a non-empty string, got %r" % (what, key)]
    prefix, unused, name = key.rpartition("/")
    errors = []
    if prefix:
        errors.extend(dns_subdomain_errors(prefix, "%s prefix" % what))
    if len(name) > LABEL_LIMIT:
        errors.append(_too_long("%s name" % what, name, LABEL_LIMIT))
    if not _LABEL_NAME.match(name):
        errors.append("%s '%s' has an invalid name part '%s'" % (what, key, name))
    return errors


# Label domains that belong to Kubernetes itself and to the GPU stack whose labels gpufabric reads: a managed
# prefix there would let gpufabric write (and remove) keys that other components own.
RESERVED_PREFIXES = ("kubernetes.io", "k8s.io", "nvidia.com")


def label_prefix_errors(prefix):
    """The managed label prefix must be a DNS subdomain outside the reserved domains; only keys '<prefix>/...'
    are ever written to Nodes."""
    errors = dns_subdomain_errors(prefix, "label prefix")
    if not errors:
        for reserved in RESERVED_PREFIXES:
            if prefix == reserved or prefix.endswith("." + reserved):
                errors.append("label prefix '%s' is inside %s, which Kubernetes and the GPU operator own; choose a "
                              "domain of your own (the default is runwhere.ai)" % (prefix, reserved))
    return errors


def normalise_family(family):
    """'NVIDIA A100', 'NVIDIA-A100', 'nvidia_a100' -> 'NVIDIA-A100': one family however it is spelled, and a
    product label as the family it counts as ('NVIDIA-A100-SXM4-80GB' -> 'NVIDIA-A100-80GB'; core.families)."""
    return family_name(family)


def family_errors(family, what="GPU family"):
    """A family written in a quota, a worker pool or an app's platform names GPUs by their product labels, so,
    spelled the one way it counts (normalise_family), it must be a label value. Empty is the caller's to report."""
    name = normalise_family(family)
    return label_value_errors(name, what) if name else []


def family_vendor(family):
    """'NVIDIA-A100' -> 'nvidia' (for machine pool names and the gpu-family-<vendor> label)."""
    head, sep, unused = normalise_family(family).partition("-")
    return head.lower() if sep else "gpu"


def normalise_architecture(value):
    """'amd64' / 'x86_64' -> 'AMD64', 'arm64' / 'aarch64' -> 'ARM64' (PaletteAI's spelling); None if unknown."""
    return _ARCHITECTURES.get(str(value).strip().lower())


def generated_worker_pool_name(namespace, compute_pool, index):
    """Name for an unnamed worker pool: uuid5 of namespace/name/index, identical on every run (caller persists it)."""
    return str(uuid.uuid5(NAME_NAMESPACE, "%s/%s/%d" % (namespace, compute_pool, index)))


def cloud_config_uuid(namespace, compute_pool):
    """status.cloudConfigUUID: stable per compute pool, uuid5 of namespace/name."""
    return str(uuid.uuid5(NAME_NAMESPACE, "%s/%s" % (namespace, compute_pool)))


def quorum(node_count):
    """Majority of a control plane of node_count members (1 -> 1, 3 -> 2, 5 -> 3)."""
    return node_count // 2 + 1
