# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Send a plan's writes: permissions checked and objects dry-run first, then each write in order.

Before the first write: one SelfSubjectAccessReview per distinct permission the writes need (cluster-wide first,
per namespace only where that is refused), and a server-side dry run of every object to be applied where its
namespace exists, so what the server would refuse is found while nothing is written yet. Then the writes, node
label patches side by side. A status is written with the resourceVersion it was computed from, so a concurrent
writer makes it fail with Conflict (the caller reads again and plans again) instead of being overwritten.
A write that fails stops the run: label patches of the batch not yet sent are not sent. A write that got no answer
from the server (the connection failed, or a 5xx) may have been applied all the same; the error names it apart from
the writes known to be done and from the refused ones.
In check mode every request is a dry run; a write the server cannot dry-run (its namespace or object is created
earlier in the same run) is reported from the plan as it is.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import APPLY, DELETE, LABELS, STATUS
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import (
    FIELD_MANAGER, PATCH_THREADS, RESOURCES, KubeError, path_for)

DRY_RUN = {"dryRun": "All"}


class WriteError(KubeError):
    """A write failed. `done`: the writes that had already gone through, which the message lists; `unconfirmed`:
    writes sent without an answer (the connection failed, or the server failed), which may have been applied."""

    def __init__(self, message, status=None, done=(), unconfirmed=()):
        super(WriteError, self).__init__(message, status)
        self.done = list(done)
        self.unconfirmed = list(unconfirmed)


def unanswered(error):
    """Whether a failed request may still have been applied: no HTTP answer came (the connection failed after it
    may have been sent, whatever urllib3 retried after), or the server failed (5xx) rather than refused (4xx)."""
    return error.status is None or error.status >= 500


class Conflict(WriteError):
    """A status write found the object changed since it was read: read again and plan again."""


def _group(kind):
    api_version = RESOURCES[kind][0]
    return api_version.split("/")[0] if "/" in api_version else ""


def _needs(write):
    """The (verb, group, resource, subresource, namespace) keys one write needs."""
    resource = RESOURCES[write.kind][1]
    verbs = {APPLY: ["patch"] + (["create"] if write.creates else []), STATUS: ["patch"], LABELS: ["patch"],
             DELETE: ["delete"]}[write.action]
    subresource = "status" if write.action == STATUS else ""
    return [(verb, _group(write.kind), resource, subresource, write.namespace or "") for verb in verbs]


def permissions(writes):
    """{(verb, group, resource, subresource, namespace): [write keys]} the writes need."""
    needed = {}
    for write in writes:
        for key in _needs(write):
            needed.setdefault(key, []).append(write.key)
    return needed


def may(cluster, verb, group, resource, subresource="", namespace="", name=""):
    """Whether the caller may do this (a SelfSubjectAccessReview: the API server's own authorizer answers)."""
    attributes = {"verb": verb, "group": group, "resource": resource}
    for key, value in (("subresource", subresource), ("namespace", namespace), ("name", name)):
        if value:
            attributes[key] = value
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}
    # A review stores nothing; sent as a dry run, the audit log shows it as what it is.
    review = cluster.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body,
                             query=DRY_RUN) or {}
    return bool((review.get("status") or {}).get("allowed"))


def check_permissions(cluster, writes, identity):
    """Raise KubeError naming every permission `identity` lacks for these writes, before any is sent."""
    needed = permissions(writes)
    if not needed:
        return
    cluster_wide = sorted(set(key[:4] for key in needed))
    with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(cluster_wide))) as pool:
        granted = dict(zip(cluster_wide, pool.map(lambda k: may(cluster, *k),
                                                  cluster_wide)))
    per_namespace = sorted(key for key in needed if key[4] and not granted[key[:4]])
    if per_namespace:
        with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(per_namespace))) as pool:
            answers = dict(zip(per_namespace, pool.map(lambda k: may(cluster, *k), per_namespace)))
    else:
        answers = {}
    # A role may grant a verb on named objects only (resourceNames): what is refused for the kind is asked again
    # for each object the writes name.
    refused = set(key for key in needed if not (granted[key[:4]] or (answers.get(key) if key[4] else False)))
    named = sorted(set((key, write.name, write.key) for write in writes for key in _needs(write) if key in refused))
    if named:
        with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(named))) as pool:
            by_name = dict(zip(named, pool.map(lambda item: may(cluster, *item[0], name=item[1]), named)))
    else:
        by_name = {}
    missing = []
    for key in sorted(needed):
        keys = [write_key for (asked, unused, write_key), allowed in sorted(by_name.items())
                if asked == key and not allowed] if key in refused else []
        if not keys:
            continue
        verb, group, resource, subresource, namespace = key
        what = "%s%s%s" % (resource, "/" + subresource if subresource else "", "." + group if group else "")
        missing.append("%s %s%s (needed for %s%s)" % (
            verb, what, " in namespace %s" % namespace if namespace else " (cluster-wide)",
            ", ".join(keys[:3]), " and %d more" % (len(keys) - 3) if len(keys) > 3 else ""))
    if missing:
        raise KubeError("%s may not do what this run must write; nothing was written. Missing permission(s): %s. "
                        "Grant them (the gpufabric-operator ClusterRole holds them all) or run as another identity"
                        % (identity, "; ".join(missing)), 403)


def _path(write, subresource=None):
    return path_for(write.kind, write.name, write.namespace, subresource)


def _can_dry_run(write, namespaces, created):
    """Whether the server can dry-run this write: what it depends on exists before the run. What a dry run
    "creates" is not there for the next one, so a write is reported from the plan when it needs its namespace,
    its own object (a status) or the Role it binds (RBAC checks a binding's Role) and the run creates that."""
    if write.namespace and namespaces is not None and write.namespace not in namespaces:
        return False
    if write.action == STATUS and write.live is None:
        return False
    if write.action == APPLY and write.kind in ("RoleBinding", "ClusterRoleBinding"):
        role = (write.body or {}).get("roleRef") or {}
        return (role.get("kind"), write.namespace if role.get("kind") == "Role" else None,
                role.get("name")) not in created
    return True


def _created(write):
    return (write.kind, write.namespace, write.name) if write.creates else None


def _send_one(cluster, write, check_mode, versions):
    query = dict(DRY_RUN) if check_mode else {}
    if write.action == APPLY:
        query.update({"fieldManager": FIELD_MANAGER, "force": "true"})
        return cluster.request("PATCH", _path(write), body=write.body, query=query,
                               content_type="application/apply-patch+yaml")
    if write.action == STATUS:
        body = dict(write.body, metadata=dict(write.body["metadata"]))
        version = versions.get((write.kind, write.namespace, write.name)) or \
            ((write.live or {}).get("metadata") or {}).get("resourceVersion")
        if version:
            body["metadata"]["resourceVersion"] = version
        query.update({"fieldManager": FIELD_MANAGER, "force": "true"})
        try:
            return cluster.request("PATCH", _path(write, "status"), body=body, query=query,
                                   content_type="application/apply-patch+yaml")
        except KubeError as error:
            if error.status == 409:
                raise Conflict("%s changed since it was read (%s)" % (write.key, error), 409)
            raise
    if write.action == LABELS:
        metadata = {"labels": write.body}
        if write.guarded:
            metadata["resourceVersion"] = ((write.live or {}).get("metadata") or {}).get("resourceVersion")
        try:
            return cluster.request("PATCH", _path(write), body={"metadata": metadata}, query=query or None,
                                   content_type="application/merge-patch+json")
        except KubeError as error:
            if error.status == 409 and write.guarded:
                raise Conflict("%s changed since it was read (%s)" % (write.key, error), 409)
            raise
    try:
        return cluster.request("DELETE", _path(write), query=query or None)
    except KubeError as error:
        if error.status == 404:
            return None
        raise


def dry_run_objects(cluster, writes, namespaces):
    """Every object to apply, dry-run where the server can: its word on the whole plan before the first write."""
    created = set()
    for write in writes:
        dry_run = write.action == APPLY and _can_dry_run(write, namespaces, created)
        created.add(_created(write))
        if dry_run:
            try:
                _send_one(cluster, write, True, {})
            except KubeError as error:
                raise KubeError("the API server refuses %s: %s; nothing was written" % (write.key, error),
                                error.status)


def send(cluster, writes, check_mode=False, namespaces=None):
    """Send the writes in order; returns [(write, object or status as the server returned it, or None)].

    namespaces: the namespaces that exist before the run (None: unknown, every write is tried). Raises WriteError
    (or Conflict) naming the failed write and every write already done."""
    done, results, versions, created = [], [], {}, set()
    index = 0
    writes = list(writes)
    while index < len(writes):
        write = writes[index]
        if write.action == LABELS:
            batch = [write]
            while index + len(batch) < len(writes) and writes[index + len(batch)].action == LABELS:
                batch.append(writes[index + len(batch)])
            _send_labels(cluster, batch, check_mode, done, results)
            index += len(batch)
            continue
        if check_mode and not _can_dry_run(write, namespaces, created):
            results.append((write, None))
        else:
            try:
                returned = _send_one(cluster, write, check_mode, versions)
            except Conflict as error:
                raise Conflict(str(error), 409, done)
            except KubeError as error:
                unconfirmed = [write] if unanswered(error) else []
                raise WriteError(_failure(write, error, done, unconfirmed), error.status, done, unconfirmed)
            version = ((returned or {}).get("metadata") or {}).get("resourceVersion")
            if version and not check_mode:
                versions[(write.kind, write.namespace, write.name)] = version
            results.append((write, returned))
            done.append(write)
        created.add(_created(write))
        index += 1
    return results


def _send_labels(cluster, batch, check_mode, done, results):
    stop = threading.Event()  # set by the first failure: the patches not started yet are not sent

    def patch(write):
        if stop.is_set():
            return write, None, None, False
        try:
            return write, _send_one(cluster, write, check_mode, {}), None, True
        except KubeError as error:
            stop.set()
            return write, None, error, True

    with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(batch))) as pool:
        outcomes = list(pool.map(patch, batch))
    failed = [(write, error) for write, unused, error, unused_sent in outcomes if error is not None]
    for write, returned, error, sent in outcomes:
        if sent and error is None:
            done.append(write)
            results.append((write, returned))
    conflicts = [error for unused, error in failed if isinstance(error, Conflict)]
    if conflicts and len(conflicts) == len(failed):
        raise Conflict(str(conflicts[0]), 409, done)
    if failed:
        write, error = failed[0]
        unconfirmed = [w for w, e in failed if unanswered(e)]
        unsent = len([w for w, unused, unused_error, sent in outcomes if not sent])
        raise WriteError(_failure(write, error, done, unconfirmed, len(failed), unsent), error.status, done,
                         unconfirmed)


def key_list(writes):
    """The writes' keys for a message: the first ten, then how many more."""
    return ", ".join(w.key for w in writes[:10]) + (" and %d more" % (len(writes) - 10) if len(writes) > 10 else "")


def _failure(write, error, done, unconfirmed=(), failed=1, unsent=0):
    text = "writing %s failed%s: %s. Already written: %s" % (
        write.key, " (and %d more)" % (failed - 1) if failed > 1 else "", error, key_list(done) or "nothing")
    if unconfirmed:
        text += ". Sent without an answer, so they may have been applied: %s" % key_list(unconfirmed)
    if unsent:
        text += ". Not sent: %d more write(s) of the same batch" % unsent
    return text + ". Run again once the cause is fixed: writes that went through are not repeated"


class Sender(object):
    """Sends writes to the hub ("") or the spoke (its name), remembering what went through on either, so a write
    that fails names what both servers had already been sent."""

    def __init__(self, clusters, check_mode, namespaces):
        self.clusters, self.check_mode, self.namespaces = clusters, check_mode, namespaces
        self.done = []

    def preflight(self, writes, identities):
        """Permissions on each server, then (in a real run) every object dry-run on each: before the first write."""
        for side in sorted(set(write.cluster for write in writes)):
            check_permissions(self.clusters[side], [w for w in writes if w.cluster == side], identities[side])
        if not self.check_mode:
            for side in sorted(set(write.cluster for write in writes)):
                dry_run_objects(self.clusters[side], [w for w in writes if w.cluster == side], self.namespaces[side])

    def send(self, writes):
        """The writes in plan order, each run of them to its cluster."""
        runs = []
        for write in writes:
            if runs and runs[-1][0].cluster == write.cluster:
                runs[-1].append(write)
            else:
                runs.append([write])
        for run in runs:
            side = run[0].cluster
            try:
                send(self.clusters[side], run, self.check_mode, self.namespaces[side])
            except WriteError as error:
                if self.done:
                    error.args = ("%s. Written before, on the other cluster: %s" % (error, key_list(self.done)),)
                    error.done[:0] = self.done
                raise
            self.done.extend(run)
