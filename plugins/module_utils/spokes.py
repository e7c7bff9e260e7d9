# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""The hub, spoke and spoke_info modules' runs: read both sides, let the core decide (core.registration), send
through kube.send.

A registration reads everything first, on the spoke (whether it answers, who it is, its Nodes, what registration
already made there) and on the hub (the bootstrap identity, the clusters registered, the cluster set), so a spoke
that cannot be reached, a name already taken by the same cluster or a hub without OCM's kinds fails with nothing
written anywhere. Then the permissions and dry runs of every write on both servers, then the writes: the spoke's
side first (its CRDs, and the hub's identity there, whose token the spoke's controller manager fills in), then the
Klusterlet and bootstrap Secret, then the hub's side, ending with the Secret holding the connection to the spoke.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import APP_LABEL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import label_prefix_errors
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import (
    AGENT_NAMESPACE, BOOTSTRAP_TOKEN, CONNECTION_SECRET, HUB, HUB_IDENTITY_TOKEN, HUB_KINDS, HUB_NAMESPACE,
    OCM_KINDS, SPOKE, SPOKE_KINDS, SPOKE_NAMESPACE, UID_ANNOTATION, HubFacts, Live, SpokeFacts, blockers,
    connection_write, gpu_inventory, hide_secrets, hub_module_reads, hub_reads, missing_kind_errors,
    parse_manifests, parse_ocm_crds, parse_spoke, plan_deregistration, plan_hub, plan_registration, spoke_reads,
    spoke_row, token_of)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import MANAGED_SELECTOR
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import diff_of
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import PATCH_THREADS, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.send import Sender
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.spokes import (
    ca_text, connect_spoke, get_objects, open_spoke, served_kinds, version, wait_established, wait_token)
from ansible_collections.gpufabric.platform.plugins.module_utils.module import kubeconfig_secrets


def _row_key(item):
    return tuple(item.get(key, "") for key in ("kind", "namespace", "name"))


def _identity(cluster, default):
    return getattr(cluster.connection, "identity", None) or default


def _diff(writes, prefix, header):
    """One side's diff (Ansible's before/after with a header), Secret values hidden."""
    before, after = {}, {}
    for write in writes:
        old, new = diff_of(write, prefix)
        before[write.key], after[write.key] = hide_secrets(old), hide_secrets(new)
    return {"before_header": header, "after_header": header, "before": before, "after": after}


def _manifests(params, what):
    manifests = parse_manifests(params.get("manifests"))
    if not manifests.crds:
        raise FabricError(["manifests holds no CustomResourceDefinition: %s applies the collection's manifests/ (its "
                           "action plugin reads them on the controller); run it as a task of a play, or give the "
                           "documents of manifests/crds and manifests/rbac in manifests" % what])
    return manifests


# -- the hub ----------------------------------------------------------------------------------------------------------

class HubRunner(object):
    """The hub: the collection's CRDs (Established before anything uses them), OCM's kinds (served, or installed
    from the files ocm_crds names), the bootstrap identity's namespace, the collection's RBAC and the bootstrap
    identity spokes register with."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.manifests = _manifests(params, "gpufabric.platform.hub")
        self.ocm_crds = parse_ocm_crds(params.get("ocm_crds"))
        self.timeout = params.get("wait_timeout") or 60

    def run(self):
        cluster, check_mode = self.module.cluster, self.module.check_mode
        served = served_kinds(cluster, HUB_KINDS)
        keys = [("CustomResourceDefinition", "", crd["metadata"]["name"]) for crd in self.manifests.crds]
        keys += [("CustomResourceDefinition", "", crd["metadata"]["name"])
                 for kind, crd in sorted(self.ocm_crds.items()) if kind in HUB_KINDS and kind not in served]
        keys += [(obj["kind"], "", obj["metadata"]["name"]) for obj in self.manifests.rbac]
        keys += list(hub_module_reads())
        live = Live(dict(((HUB,) + key, obj) for key, obj in get_objects(cluster, keys).items()))
        plan = plan_hub(self.manifests, self.ocm_crds, served, live)
        namespaces = set(ns for ns in (HUB_NAMESPACE,) if live.get(HUB, "Namespace", ns) is not None)
        sender = Sender({"": cluster}, check_mode, {"": namespaces})
        writes = plan.all_writes
        sender.preflight(writes, {"": _identity(cluster, "the module's identity")})
        sender.send(plan.crd_writes)
        if not check_mode:
            names = [crd["metadata"]["name"] for crd in self.manifests.crds] + plan.report["ocm"]["installed"]
            wait_established(cluster, names, self.timeout, "the hub at %s" % cluster.connection.host)
        sender.send(plan.writes)
        if not check_mode and any(w.kind == "Secret" and w.name == BOOTSTRAP_TOKEN for w in plan.writes):
            token = wait_token(cluster, HUB_NAMESPACE, BOOTSTRAP_TOKEN, self.timeout,
                               "the hub at %s" % cluster.connection.host)
            self.module.no_log_values.add(token)
        result = {"changed": bool(writes), "hub": plan.report}
        if self.module._diff:
            result["diff"] = _diff(writes, "", "hub")
        return result


# -- a spoke ----------------------------------------------------------------------------------------------------------

class SpokeRunner(object):
    """state present registers one spoke (both halves of OCM's double opt-in, and the hub's own connection to it);
    absent deregisters it, refusing while compute pools or apps use it unless forced."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.prefix = params["label_prefix"]
        raise_if(label_prefix_errors(self.prefix))
        self.spec = parse_spoke(params)
        self.manifests = _manifests(params, "gpufabric.platform.spoke") if self.spec.present else None
        self.module.no_log_values.update(kubeconfig_secrets(self.spec.options.get("kubeconfig")))

    def run(self):
        return self.present() if self.spec.present else self.absent()

    def _secret(self, value):
        if value:
            self.module.no_log_values.add(value)
        return value

    # -- register --

    def _read_spoke(self, spoke):
        """(live objects, Nodes, kube-system uid) of the spoke; KubeError naming it when it does not answer."""
        name = self.spec.name
        kube_system = spoke.get("Namespace", "kube-system")  # one request first: does it answer, and who is it
        if kube_system is None:
            raise KubeError("spoke %s at %s has no kube-system namespace: is it a Kubernetes API server?"
                            % (name, spoke.connection.host))
        if SPOKE_KINDS[0] not in served_kinds(spoke, SPOKE_KINDS):
            raise_if(missing_kind_errors(list(SPOKE_KINDS), "spoke %s at %s" % (name, spoke.connection.host)))
        keys = list(spoke_reads())
        keys += [("CustomResourceDefinition", "", crd["metadata"]["name"]) for crd in self.manifests.crds]
        keys += [("ClusterRole", "", role["metadata"]["name"]) for role in self.manifests.cluster_roles]
        with ThreadPoolExecutor(max_workers=2) as pool:
            objects = pool.submit(get_objects, spoke, keys)
            nodes = pool.submit(spoke.list, "Node")
            return objects.result(), nodes.result(), kube_system["metadata"]["uid"]

    def _read_hub(self, hub):
        name, cluster_set = self.spec.name, self.spec.cluster_set
        served = served_kinds(hub, ("ManagedCluster", "ManagedClusterSet"))
        missing = [kind for kind in ("ManagedCluster", "ManagedClusterSet") if kind not in served]
        if missing:
            raise FabricError(["the hub at %s does not serve %s; nothing was written. Prepare the hub first with "
                               "gpufabric.platform.hub (playbooks/hub.yml), which checks OCM's kinds and installs "
                               "them from the files its ocm_crds names" % (hub.connection.host, ", ".join(
                                   "%s (%s)" % (kind, OCM_KINDS[kind][0]) for kind in missing))])
        keys = list(hub_reads(name)) + [("ManagedClusterSet", "", cluster_set), ("ManagedCluster", "", name)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            objects = pool.submit(get_objects, hub, keys)
            clusters = pool.submit(hub.list, "ManagedCluster")
            objects, clusters = objects.result(), clusters.result()
        bootstrap = objects[("Secret", HUB_NAMESPACE, BOOTSTRAP_TOKEN)]
        token = self._secret(token_of(bootstrap))
        if not token:
            raise FabricError(["the hub at %s has no bootstrap identity yet (Secret %s/%s %s); nothing was written. "
                               "Prepare the hub first with gpufabric.platform.hub (playbooks/hub.yml)" % (
                                   hub.connection.host, HUB_NAMESPACE, BOOTSTRAP_TOKEN,
                                   "is missing" if bootstrap is None else "holds no token yet")])
        return objects, clusters, token

    def present(self):
        spec, module = self.spec, self.module
        hub, check_mode = module.cluster, module.check_mode
        spoke = connect_spoke(spec.name, spec.options)
        spoke_objects, nodes, uid = self._read_spoke(spoke)
        hub_objects, clusters, bootstrap_token = self._read_hub(hub)
        live = Live(dict([((SPOKE,) + key, obj) for key, obj in spoke_objects.items()] +
                         [((HUB,) + key, obj) for key, obj in hub_objects.items()]))
        hub_facts = HubFacts(spec.hub_url or hub.connection.host, ca_text(hub.connection, "the hub"), bootstrap_token)
        facts = SpokeFacts(uid, spoke.connection.host, ca_text(spoke.connection, "spoke %s" % spec.name),
                           gpu_inventory(nodes, self.prefix),
                           self._secret(token_of(live.get(SPOKE, "Secret", HUB_IDENTITY_TOKEN, SPOKE_NAMESPACE))))
        plan = plan_registration(spec, hub_facts, facts, live, clusters, self.manifests, self.prefix,
                                 hub_objects[("ManagedClusterSet", "", spec.cluster_set)])
        namespaces = {
            "": set(ns for ns in (spec.name,) if live.get(HUB, "Namespace", ns) is not None),
            spec.name: set(ns for ns in (SPOKE_NAMESPACE, AGENT_NAMESPACE) if live.get(SPOKE, "Namespace", ns)
                           is not None)}
        sender = Sender({"": hub, spec.name: spoke}, check_mode, namespaces)
        sender.preflight(plan.writes, {"": _identity(hub, "the module's identity"),
                                       spec.name: _identity(spoke, "the identity given for spoke %s" % spec.name)})
        setup, rest = list(plan.writes[:plan.wait_after]), list(plan.writes[plan.wait_after:])
        sender.send(setup)
        if not check_mode:
            where = "spoke %s at %s" % (spec.name, spoke.connection.host)
            wait_established(spoke, [crd["metadata"]["name"] for crd in self.manifests.crds], spec.wait_timeout,
                             where)
            if not facts.token:  # the hub identity's token Secret is new: its controller manager fills it in
                facts = replace(facts, token=self._secret(wait_token(
                    spoke, SPOKE_NAMESPACE, HUB_IDENTITY_TOKEN, spec.wait_timeout, where)))
                rest = [w for w in rest if not (w.kind == "Secret" and w.name == CONNECTION_SECRET)]
                connection = connection_write(spec, facts, live)
                rest += [connection] if connection is not None else []
        sender.send(rest)
        for warning in plan.warnings:
            module.warn(warning)
        return self._result(plan, plan.writes)

    def _result(self, plan, writes):
        result = {"changed": bool(writes), "spoke": plan.report}
        if self.module._diff:
            result["diff"] = [_diff([w for w in writes if not w.cluster], self.prefix, "hub"),
                              _diff([w for w in writes if w.cluster], self.prefix, "spoke %s" % self.spec.name)]
        return result

    # -- deregister --

    def absent(self):
        spec, module = self.spec, self.module
        hub, check_mode, name = module.cluster, module.check_mode, self.spec.name
        served = served_kinds(hub, ("ManagedCluster", "ManifestWork"))
        keys = [("Namespace", "", name), ("Secret", name, CONNECTION_SECRET)]
        if "ManagedCluster" in served:
            keys.append(("ManagedCluster", "", name))
        hub_objects = get_objects(hub, keys)
        registered = hub_objects.get(("ManagedCluster", "", name))
        pools = hub.list("ComputePool")
        works = hub.list("ManifestWork", namespace=name) if "ManifestWork" in served and \
            hub_objects[("Namespace", "", name)] is not None else []
        spoke, spoke_objects, workloads, reachable, url = None, {}, [], True, ""
        try:
            if spec.options:
                spoke = connect_spoke(name, spec.options)
            elif registered is not None and hub_objects[("Secret", name, CONNECTION_SECRET)] is not None:
                spoke = open_spoke(hub, name, probe=False)  # only while registered: then the identity is there
            if spoke is not None:
                url = spoke.connection.host
                spoke_objects = get_objects(spoke, spoke_reads())
                workloads = [dict(obj, kind=kind) for kind in ("Deployment", "Job")  # list items carry no kind
                             for obj in spoke.list(kind, label_selector=APP_LABEL)]
                self._same_cluster(registered, spoke_objects, url)
            elif registered is not None:
                raise KubeError("spoke %s: the hub holds no connection to it (Secret %s/%s) and no cluster option "
                                "was given, so its side cannot be cleaned" % (name, name, CONNECTION_SECRET))
        except KubeError as error:
            if not spec.force:
                raise KubeError("%s; nothing was written. Deregister with force: true to remove the hub's side only"
                                % error, error.status)
            reachable, spoke_objects, workloads = False, {}, None
            url = url or "(no connection)"
        live = Live(dict([((SPOKE,) + key, obj) for key, obj in spoke_objects.items()] +
                         [((HUB,) + key, obj) for key, obj in hub_objects.items()]))
        found = blockers(name, pools, workloads, works)
        plan = plan_deregistration(spec, live, found, reachable, url)
        clusters = {"": hub}
        if spoke is not None:
            clusters[name] = spoke
        sender = Sender(clusters, check_mode, {"": None, name: None})
        identities = {"": _identity(hub, "the module's identity")}
        if spoke is not None:
            identities[name] = _identity(spoke, "the identity for spoke %s" % name)
        sender.preflight(plan.writes, identities)
        sender.send(plan.writes)
        for warning in plan.warnings:
            module.warn(warning)
        return self._result(plan, plan.writes)

    def _same_cluster(self, registered, spoke_objects, url):
        """The cluster reached is the one registered under this name (its kube-system uid), or KubeError."""
        kube_system = spoke_objects.get(("Namespace", "", "kube-system")) or {}
        uid = (kube_system.get("metadata") or {}).get("uid")
        recorded = ((registered or {}).get("metadata") or {}).get("annotations", {}).get(UID_ANNOTATION)
        if registered is not None and recorded and uid and uid != recorded:
            raise FabricError(["the cluster at %s (kube-system uid %s) is not the one registered as spoke %s (uid %s); "
                               "nothing was written. Give the connection of the registered cluster, or leave cluster "
                               "out to use the connection the hub keeps" % (url, uid, self.spec.name, recorded)])


# -- spoke_info -------------------------------------------------------------------------------------------------------

class SpokeInfoRunner(object):
    """Each spoke the collection registered, as the hub knows it and as it answers through the hub's connection."""

    def __init__(self, module):
        self.module = module
        self.prefix = module.params["label_prefix"]
        self.name = module.params.get("name")

    def run(self):
        hub = self.module.cluster
        served = served_kinds(hub, ("ManagedCluster", "ManifestWork"))
        if "ManagedCluster" not in served:
            self.module.warn("the hub at %s does not serve ManagedCluster (cluster.open-cluster-management.io/v1): "
                             "no spoke is registered there" % hub.connection.host)
            return {"changed": False, "spokes": []}
        clusters = [c for c in hub.list("ManagedCluster", label_selector=MANAGED_SELECTOR)
                    if not self.name or c["metadata"]["name"] == self.name]
        pools = hub.list("ComputePool")
        works = hub.list("ManifestWork") if "ManifestWork" in served else []

        def row(cluster):
            name = cluster["metadata"]["name"]
            reached, error, apps = None, "", []
            try:
                spoke = open_spoke(hub, name, probe=False)
                answered = version(spoke)
                with ThreadPoolExecutor(max_workers=3) as pool:
                    nodes = pool.submit(spoke.list, "Node")
                    deployments = pool.submit(spoke.list, "Deployment", None, APP_LABEL)
                    jobs = pool.submit(spoke.list, "Job", None, APP_LABEL)
                    reached = {"version": answered, "inventory": gpu_inventory(nodes.result(), self.prefix)}
                    apps = [{"kind": kind, "namespace": obj["metadata"].get("namespace", ""),
                             "name": obj["metadata"]["name"], "delivery": "direct"}
                            for kind, items in (("Deployment", deployments.result()), ("Job", jobs.result()))
                            for obj in items]
            except KubeError as failure:
                error = str(failure)
            apps += [{"kind": "ManifestWork", "namespace": name, "name": work["metadata"]["name"],
                      "delivery": "manifestwork"} for work in works if work["metadata"].get("namespace") == name]
            bound = [{"namespace": pool["metadata"].get("namespace", ""), "name": pool["metadata"]["name"]}
                     for pool in pools if ((pool.get("spec") or {}).get("spoke") or "") == name]
            return spoke_row(cluster, self.prefix, reached, error, sorted(bound, key=_row_key),
                             sorted(apps, key=_row_key))

        rows = []
        if clusters:
            with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(clusters))) as pool:
                rows = list(pool.map(row, clusters))
        return {"changed": False, "spokes": sorted(rows, key=lambda item: item["name"])}
