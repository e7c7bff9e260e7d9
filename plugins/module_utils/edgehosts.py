# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""The edge_host, edge_host_report, host_node and cluster_crds modules' runs: read, let the core decide
(core.edgehosts, core.appliance), send through kube.send; the permission checks and dry runs of every write come
before the first one."""

from __future__ import annotations

import os
import tempfile

from ansible_collections.gpufabric.platform.plugins.module_utils.core.appliance import plan_crds
from ansible_collections.gpufabric.platform.plugins.module_utils.core.edgehosts import (
    KIND, allocations_of, plan_deregistration, plan_node, plan_registration, plan_report, user_of)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import kubeconfig
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import delete_write, diff_of
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.edgehosts import (
    compute_pools, identity_token, read_node, read_registration)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.send import (
    Conflict, check_permissions, dry_run_objects, send)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import (
    ca_text, get_objects, wait_established)
from ansible_collections.gpufabric.platform.plugins.module_utils.runner import REPLANS, utc_now


# The hardware options edge_host and edge_host_report share (documented by the host_facts doc fragment).
HOST_FACTS_ARG_SPEC = dict(
    cpus=dict(type="int", default=0),
    memory_mb=dict(type="int", default=0),
    gpus=dict(type="list", elements="dict", default=[], options=dict(
        family=dict(type="str"), model=dict(type="str", required=True), count=dict(type="int", required=True),
        memory_mib=dict(type="int"))),
)


def host_facts_of(params):
    """The module's facts options as the core keeps a host's facts."""
    return {"address": params.get("address") or "", "machine_id": params.get("machine_id") or "",
            "architecture": params.get("architecture"), "cpus": params.get("cpus") or 0,
            "memory_mb": params.get("memory_mb") or 0, "gpus": params.get("gpus") or []}


def _identity(cluster):
    describe = getattr(cluster.connection, "describe", None)
    return describe() if callable(describe) else "the identity at %s" % cluster.connection.host


def _send(module, cluster, writes, namespaces=None):
    """Permissions, then dry runs, then the writes (check mode: every write a dry run)."""
    if not writes:
        return
    check_permissions(cluster, writes, _identity(cluster))
    if not module.check_mode:
        dry_run_objects(cluster, writes, namespaces)
    send(cluster, writes, module.check_mode, namespaces)


def _diff(writes, prefix=""):
    before, after = {}, {}
    for write in writes:
        old, new = diff_of(write, prefix)
        before[write.key], after[write.key] = old, new
    return {"before": before, "after": after}


def _write_private(path, text):
    """Write `text` to `path` readable by its owner only (the file never exists with wider permissions)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".edge-kubeconfig-")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temporary, 0o600)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


class EdgeHostRunner(object):
    """Registers one edge host on the hub (its EdgeHost and identity, and the identity's kubeconfig on the machine
    the module runs on), or deregisters it."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cluster = module.cluster

    def run(self):
        if self.params["state"] == "absent":
            return self.absent()
        return self.present()

    def present(self):
        name, params = self.params["name"], self.params
        facts = host_facts_of(params)
        found = read_registration(self.cluster, name)
        errors, writes = plan_registration(name, facts, found)
        raise_if(errors)
        namespaces = set(key[2] for key, obj in found.items() if key[0] == "Namespace" and obj is not None)
        _send(self.module, self.cluster, writes, namespaces)
        changed = bool(writes)
        path = params.get("kubeconfig_path")
        kubeconfig_changed = False
        if path and not (self.module.check_mode and writes):
            token = identity_token(self.cluster, name, params["wait_timeout"])
            self.module.no_log_values.add(token)
            server = params.get("server") or self.cluster.connection.host
            text = kubeconfig(params.get("cluster_name") or "hub", server,
                              ca_text(self.cluster.connection, "the hub"), user_of(name), token)
            kubeconfig_changed = _read(path) != text or (os.stat(path).st_mode & 0o777) != 0o600
            if kubeconfig_changed and not self.module.check_mode:
                _write_private(path, text)
        elif path:
            kubeconfig_changed = True  # the identity is created by this run; its token comes once it exists
        result = {"changed": changed or kubeconfig_changed,
                  "edge_host": {"name": name, "state": "present", "identity": user_of(name),
                                "kubeconfig": path or None, "writes": [w.key for w in writes]}}
        if self.module._diff:
            result["diff"] = _diff(writes)
        return result

    def absent(self):
        name, params = self.params["name"], self.params
        found = read_registration(self.cluster, name)
        holders = allocations_of(name, compute_pools(self.cluster)) if found.get((KIND, "", name)) else []
        errors, writes, warnings = plan_deregistration(name, found, holders, params["force"])
        raise_if(errors)
        for warning in warnings:
            self.module.warn(warning)
        _send(self.module, self.cluster, writes)
        path = params.get("kubeconfig_path")
        removed = bool(path) and os.path.exists(path)
        if removed and not self.module.check_mode:
            os.unlink(path)
        result = {"changed": bool(writes) or removed,
                  "edge_host": {"name": name, "state": "absent", "writes": [w.key for w in writes]}}
        if self.module._diff:
            result["diff"] = _diff(writes)
        return result


class EdgeHostReportRunner(object):
    """A host's report on its own EdgeHost, made with its own identity: facts, health and lastSeen."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cluster = module.cluster

    def run(self):
        name = self.params["name"]
        live = self.cluster.get(KIND, name)
        if live is not None:
            live.setdefault("kind", KIND)
            live.setdefault("apiVersion", "gpufabric.io/v1alpha1")
        errors, write = plan_report(name, host_facts_of(self.params), live, utc_now(), self.params["heartbeat"])
        raise_if(errors)
        writes = [write] if write is not None else []
        _send(self.module, self.cluster, writes)
        status = write.body["status"] if write is not None else (live.get("status") or {})
        result = {"changed": bool(writes), "status": status}
        if self.module._diff:
            result["diff"] = _diff(writes)
        return result


class HostNodeRunner(object):
    """A host registered as a Node of a cluster the appliance runs, as its kubelet would register it; or removed."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cluster = module.cluster

    def labels(self):
        params, prefix = self.params, self.params["label_prefix"]
        labels = dict(params.get("labels") or {})
        if params.get("compute_pool"):
            labels[prefix + "/compute-pool"] = params["compute_pool"]
        if params.get("machine_pool"):
            labels[prefix + "/machine-pool"] = params["machine_pool"]
        return labels

    def plan(self):
        params = self.params
        name = params["name"]
        live = read_node(self.cluster, name)
        if params["state"] == "absent":
            return [] if live is None else [delete_write(live, "Node")]
        facts = {"address": params.get("address") or "", "architecture": params["architecture"],
                 "cpus": params["cpus"], "memory": params["memory"], "gpus": params.get("gpus") or []}
        return plan_node(name, facts, self.labels(), params["control_plane"], params["schedule_workloads"], live,
                         utc_now())

    def run(self):
        params = self.params
        name = params["name"]
        done = []
        # The cluster's node lifecycle controller changes a new Node (its not-ready taint comes and goes), so the
        # status written with the version the Node was created at may conflict: read and plan again.
        for attempt in range(REPLANS):
            writes = self.plan()
            try:
                _send(self.module, self.cluster, writes)
                break
            except Conflict as conflict:
                if attempt == REPLANS - 1:
                    raise
                done.extend(write.key for write in conflict.done)
        writes_sent = done + [w.key for w in writes]
        result = {"changed": bool(writes_sent), "writes": writes_sent,
                  "node": {"name": name, "state": params["state"], "labels": self.labels()}}
        if self.module._diff:
            result["diff"] = _diff(writes, params["label_prefix"])
        return result


class ClusterCrdsRunner(object):
    """CRDs applied to a cluster the appliance installed, then waited for until Established."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cluster = module.cluster

    def run(self):
        documents = self.params["crds"]
        names = [((d or {}).get("metadata") or {}).get("name") for d in documents if isinstance(d, dict)]
        live = dict(((name, obj) for (unused, unused_ns, name), obj in get_objects(
            self.cluster, [("CustomResourceDefinition", "", name) for name in names if name]).items()))
        errors, writes = plan_crds(documents, live)
        raise_if(errors)
        _send(self.module, self.cluster, writes)
        if writes and not self.module.check_mode:
            wait_established(self.cluster, [w.name for w in writes], self.params["wait_timeout"],
                             "the cluster at %s" % self.cluster.connection.host)
        result = {"changed": bool(writes), "crds": sorted(n for n in names if n), "writes": [w.key for w in writes]}
        if self.module._diff:
            result["diff"] = _diff(writes)
        return result
