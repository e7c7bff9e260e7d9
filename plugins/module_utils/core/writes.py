"""What a run writes, decided before anything is sent: the write list, the rule for "already so", and diffs.

The core decides whether an object needs a write (a converged run writes nothing) by comparing the desired object
with the live one; the kube layer only sends what it is given. A diff shows exactly what gpufabric sets: for an
applied object the values the live object has at the paths gpufabric writes (before) and the desired values
(after), for a status its old and new status, for a Node its labels under the managed prefix. Check mode and the
real run build it from the same plan, so they report the same diff.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional

FINGERPRINT = "gpufabric.io/fingerprint"
# Server-kept bookkeeping, left out of diffs and comparisons.
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")

APPLY, STATUS, LABELS, DELETE = "apply", "status", "labels", "delete"


@dataclass(frozen=True)
class Write:
    """One request a run sends. action: apply (server-side apply of `body`, status excluded), status (the status
    subresource, with `live`'s resourceVersion as a precondition), labels (a merge patch of `body`, label key ->
    value or None, only keys under the managed prefix), delete. `live`: the object as read (None when absent).
    cluster: which API server ("" for the one the run addresses); entry: the spec entry it serves (its place in
    the spec, e.g. "projects[1]"), "" for a write that follows from several."""

    action: str
    kind: str
    name: str
    namespace: Optional[str] = None
    body: Optional[dict] = None
    live: Optional[dict] = None
    cluster: str = ""
    entry: str = ""
    guarded: bool = False  # sent with `live`'s resourceVersion: a concurrent change makes it conflict

    @property
    def key(self):
        """Kind/name or Kind/namespace/name, plus /status for a status write, after "<spoke>:" for a write to a
        spoke: how results and diffs name it."""
        parts = [self.kind] + ([self.namespace] if self.namespace else []) + [self.name]
        key = "/".join(parts) + ("/status" if self.action == STATUS else "")
        return "%s:%s" % (self.cluster, key) if self.cluster else key

    @property
    def creates(self):
        return self.action == APPLY and self.live is None


def strip_volatile(obj):
    """The object as a diff should show it: no managedFields, resourceVersion, uid and the like."""
    if obj is None:
        return None
    clean = dict(obj)
    metadata = dict(clean.get("metadata") or {})
    for key in VOLATILE_METADATA:
        metadata.pop(key, None)
    clean["metadata"] = metadata
    return clean


def _by_name(items):
    """{name: item} of a list of mappings with distinct names; None for any other list."""
    if not all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in items):
        return None
    named = dict((item["name"], item) for item in items)
    return named if len(named) == len(items) else None


def contains(live, desired):
    """True when every field of `desired` has the same value in `live` (the server may add defaults).

    A list of named items (containers, env, volumes) is matched by name: server-side apply merges such a list
    by name, keeping the order the live list has and adding new names after it, so an env variable added before
    an existing one is stored after it, and a comparison by position would apply it again on every run."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        wanted, found = _by_name(desired), _by_name(live)
        if wanted is not None and found is not None:
            return set(wanted) == set(found) and all(contains(found[name], item) for name, item in wanted.items())
        return all(contains(item, wanted) for item, wanted in zip(live, desired))
    return live == desired


def fingerprint(desired):
    """A digest of what we last applied, stored on the object: a field we stop setting changes it, so the
    next apply removes that field, while a re-run with the same input finds it equal and sends nothing."""
    canonical = json.dumps(desired, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def drop_empty_strings(value):
    """Mapping values that are "" removed, recursively (list items kept: RBAC's apiGroups [""] means core).

    kube-apiserver 1.20's server-side apply stores "" in a custom resource as null and then rejects it as
    not a string; an absent field means the same to every gpufabric object, so "" is never sent.
    """
    if isinstance(value, dict):
        return dict((k, drop_empty_strings(v)) for k, v in value.items() if v != "")
    if isinstance(value, list):
        return [drop_empty_strings(item) for item in value]
    return value


def with_fingerprint(desired):
    """The body server-side apply sends: status left out, empty strings dropped, the fingerprint annotation set."""
    stamped = drop_empty_strings(desired)
    body = dict((key, value) for key, value in desired.items() if key != "status")
    stamped.setdefault("metadata", {}).setdefault("annotations", {})[FINGERPRINT] = fingerprint(body)
    stamped.pop("status", None)
    return stamped


def annotation(obj, key):
    return (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(key)


def needs_apply(desired, live):
    """Whether server-side apply of `desired` would change `live` (None: the object does not exist)."""
    stamped = with_fingerprint(desired)
    return live is None or annotation(live, FINGERPRINT) != annotation(stamped, FINGERPRINT) \
        or not contains(live, stamped)


def needs_status(status, live):
    return live is None or (live.get("status") or {}) != drop_empty_strings(status)


def apply_write(desired, live, cluster=""):
    """A Write applying `desired` (its status, if any, is a separate status_write), or None when converged."""
    if not needs_apply(desired, live):
        return None
    metadata = desired["metadata"]
    return Write(APPLY, desired["kind"], metadata["name"], metadata.get("namespace"), with_fingerprint(desired),
                 live, cluster)


OBSERVED_AT = "observedAt"


def observed_status(status, live, now):
    """A status whose figures this run measured (a Pool's or a ComputePool's GPUs), with observedAt: the run's
    time (`now`) when the figures differ from the live status's, or when the live status has no observedAt yet;
    the live observedAt when they are the same, so a converged run writes nothing and observedAt stays the time
    of the run that last wrote a change (the figures may have been measured alike since)."""
    status = drop_empty_strings(dict((key, value) for key, value in status.items() if key != OBSERVED_AT))
    before = (live or {}).get("status") or {}
    kept = before.get(OBSERVED_AT)
    if live is not None and kept and dict((k, v) for k, v in before.items() if k != OBSERVED_AT) == status:
        status[OBSERVED_AT] = kept
    elif now:
        status[OBSERVED_AT] = now
    return status


def status_write(obj, status, live, cluster=""):
    """A Write of `status` onto `obj` (the desired object, for its identity), or None when the status is so."""
    status = drop_empty_strings(status)
    if live is not None and (live.get("status") or {}) == status:
        return None
    metadata = obj["metadata"]
    body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {"name": metadata["name"]},
            "status": status}
    if metadata.get("namespace"):
        body["metadata"]["namespace"] = metadata["namespace"]
    return Write(STATUS, obj["kind"], metadata["name"], metadata.get("namespace"), body, live, cluster)


def label_write(node, patch, cluster="", guarded=False):
    """A merge patch of a Node's labels (value None removes the key); None when the patch is empty. guarded: sent
    with the node's resourceVersion, so a claim on a host that someone else changed meanwhile conflicts."""
    if not patch:
        return None
    name = node["metadata"]["name"]
    return Write(LABELS, "Node", name, None, dict(sorted(patch.items())), node, cluster, guarded=guarded)


def delete_write(live, kind=None, cluster=""):
    metadata = live["metadata"]
    return Write(DELETE, kind or live["kind"], metadata["name"], metadata.get("namespace"), None, live, cluster)


def _project(live, desired):
    """The part of `live` at the paths `desired` sets (lists whole): what the write replaces."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return live
        return dict((key, _project(live[key], value)) for key, value in desired.items() if key in live)
    return live


def _without_fingerprint(obj):
    if obj is None:
        return None
    clean = json.loads(json.dumps(obj))
    annotations = (clean.get("metadata") or {}).get("annotations") or {}
    annotations.pop(FINGERPRINT, None)
    if "annotations" in clean.get("metadata", {}) and not annotations:
        clean["metadata"].pop("annotations")
    return clean


def _unobserved(status):
    if not isinstance(status, dict) or OBSERVED_AT not in status:
        return status
    return dict((key, value) for key, value in status.items() if key != OBSERVED_AT)


def diff_of(write, prefix):
    """(before, after) of one write, as diff mode shows it."""
    if write.action == APPLY:
        desired = _without_fingerprint(write.body)
        before = _without_fingerprint(_project(write.live, desired)) if write.live is not None else None
        return before, desired
    if write.action == STATUS:  # observedAt left out: only the time of the run, which check mode cannot know
        return (_unobserved((write.live or {}).get("status")) if write.live is not None else None,
                _unobserved(write.body["status"]))
    if write.action == LABELS:
        labels = ((write.live.get("metadata") or {}).get("labels") or {})
        mine = dict((k, v) for k, v in sorted(labels.items()) if k.startswith(prefix + "/"))
        after = dict(mine)
        for key, value in write.body.items():
            if value is None:
                after.pop(key, None)
            else:
                after[key] = value
        return {"labels": mine}, {"labels": after}
    return strip_volatile(write.live), None
