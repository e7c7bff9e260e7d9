"""The Pulumi program and the Ansible fabric produce the same objects on real API servers.

The Pulumi CLI and the Kubernetes provider binary cannot run here, so the program runs under the SDK's mocks
(`pulumi.runtime.set_mocks`) with an engine that does what the engine and pulumi-kubernetes (4.29 and later, server-
side apply on, the default) do with each registration, against a real control plane:

- a resource new to the stack is created with a POST under the field manager `pulumi-kubernetes` (the provider's
  client-side create; an object of that name already there is an AlreadyExists error), retried while the server
  answers NotFound or does not serve the kind yet, as the provider retries; a `*Patch` resource is a server-side
  apply of its fields under a field manager of its own, `pulumi-kubernetes-<8 hex>`, chosen once and kept in state;
- a resource whose inputs changed is updated: a CRD replaced with a PUT, anything else server-side applied under the
  resource's own field manager after the fields the create (or kubectl) owned are handed to it (the provider's
  fixCSAFieldManagers), without forcing conflicts;
- after a create or update it waits where the provider waits: a service-account token Secret until the token
  controller filled it, a ResourceQuota until the quota controller counted it, a ServiceAccount (servers before
  1.24) until its token Secret is listed; a Deployment or Job without `pulumi.com/skipAwait` would be awaited until
  rolled out, which cannot happen without kubelets, so it fails here;
- a resource registered with unchanged inputs is left alone;
- once the program has finished, resources of the last run that it no longer registers are deleted, dependents
  first: a `*Patch` gives up its fields (a server-side apply of nothing under its field manager), anything else is
  deleted with foreground propagation and awaited until gone; a protected one stops the deletions with an error.

Registrations are applied one at a time, in the order the SDK issues them; the SDK issues a resource only once every
resource it depends on has been applied (its URN is known only then), so the order is one the declared dependencies
allow. Dependency edges themselves are checked one by one by tests/unit/pulumi.

The Ansible side runs the fabric module (as the restricted operator) on a second fresh control plane with the same
nodes and pods. Then every object of every kind either tool writes is read from both servers and compared field by
field, leaving out what neither tool writes: server-kept metadata, status (the modules' ledger, written through the
status subresource, which the provider does not write), what controllers fill in (service-account token Secrets'
data, a ServiceAccount's token list), gpufabric's fingerprint annotation and Pulumi's own annotations.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pulumi
import pytest
import yaml
from kubernetes import client, config as kube_config, dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from pulumi.runtime.mocks import MockMonitor

from tests.harness.ansible import ansible_env, run_module
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.controlplane import ControlPlane
from tests.harness.demo import EDGE_HOSTS, NODES, PODS, SPOKE_NODES
from tests.harness.fleet import Fleet
from tests.harness.nodes import create_node, create_pod
from tests.harness.waiting import wait_gone, wait_until

pytestmark = pytest.mark.integration

ensure_collection_path()
if str(REPO / "pulumi") not in sys.path:
    sys.path.insert(0, str(REPO / "pulumi"))

from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_fabric_spec  # noqa: E402

DEMO = REPO / "playbooks" / "files" / "demo-fabric.yml"
PREFIX = "runwhere.ai"
PROVIDER_TYPE = "pulumi:providers:kubernetes"
CREATE_MANAGER = "pulumi-kubernetes"
# (manager, operation) whose fields the provider hands to a resource's own manager before its first apply
HANDED_OVER = (("kubectl", "Apply"), ("kubectl", "Update"), ("before-first-apply", "Update"),
               ("pulumi-kubernetes", "Update"), ("pulumi-kubernetes.exe", "Update"),
               ("pulumi-resource-kubernetes", "Update"))
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SKIP_AWAIT = "pulumi.com/skipAwait"
FINGERPRINT = "gpufabric.io/fingerprint"
WAIT = 60  # seconds the engine waits for a controller or a deletion before failing the step


def reveal(value):
    """Inputs as the provider sends them: the SDK's secret wrappers replaced by the values they wrap, and numbers,
    which travel as doubles, written as Go's JSON encoder writes a float64 (1.0 as 1)."""
    if isinstance(value, dict) and SECRET_SIG in value.values() and "value" in value:
        return reveal(value["value"])
    if isinstance(value, dict):
        return dict((key, reveal(item)) for key, item in value.items())
    if isinstance(value, list):
        return [reveal(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _if(value, holds):
    """`value` when `holds(value)` is true, else None (a wait_until check)."""
    return value if holds(value) else None


# -- one API server, as the provider reaches it -----------------------------------------------------------------------

class Server:
    """The cluster a provider's kubeconfig and context name."""

    def __init__(self, kubeconfig: Optional[str], context: Optional[str]):
        configuration = client.Configuration()
        if kubeconfig and ("\n" in kubeconfig or kubeconfig.lstrip().startswith("{")):
            kube_config.load_kube_config_from_dict(yaml.safe_load(kubeconfig), context=context,
                                                   client_configuration=configuration, persist_config=False)
        else:
            kube_config.load_kube_config(kubeconfig, context=context, client_configuration=configuration,
                                         persist_config=False)
        self.api = client.ApiClient(configuration)
        self.dynamic = dynamic.DynamicClient(self.api)
        version = client.VersionApi(self.api).get_code()
        self.version = (int(version.major), int("".join(c for c in version.minor if c.isdigit())))

    def resource(self, obj):
        try:
            return self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            self.dynamic.resources.invalidate_cache()  # a CRD created since the last look
            return self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

    def get(self, obj):
        metadata = obj["metadata"]
        try:
            return self.resource(obj).get(name=metadata["name"], namespace=metadata.get("namespace")).to_dict()
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create(self, obj):
        return self.resource(obj).create(body=obj, namespace=obj["metadata"].get("namespace"),
                                         field_manager=CREATE_MANAGER).to_dict()

    def apply(self, obj, manager):
        metadata = obj["metadata"]
        return self.resource(obj).server_side_apply(body=obj, name=metadata["name"],
                                                    namespace=metadata.get("namespace"), field_manager=manager,
                                                    force_conflicts=False).to_dict()

    def replace(self, obj, manager):
        live = self.get(obj)
        body = copy.deepcopy(obj)
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        return self.resource(obj).replace(body=body, namespace=obj["metadata"].get("namespace"),
                                          field_manager=manager).to_dict()

    def hand_over_fields(self, obj, manager):
        """The provider's fixCSAFieldManagers: what a create (or kubectl) owns becomes the resource's manager's, as
        an Apply entry, so its own apply never conflicts with its own create."""
        live = self.get(obj)
        entries = live["metadata"].get("managedFields") or []
        handed = [entry for entry in entries if (entry.get("manager"), entry.get("operation")) in HANDED_OVER]
        if not handed:
            return
        own = [entry for entry in entries if (entry.get("manager"), entry.get("operation")) == (manager, "Apply")]
        merged = dict((own or handed)[0], manager=manager, operation="Apply")
        merged.pop("time", None)
        for entry in own + handed:
            merged["fieldsV1"] = merge_fields(merged.get("fieldsV1") or {}, entry.get("fieldsV1") or {})
        kept = [entry for entry in entries if entry not in handed and entry not in own]
        patch = [{"op": "replace", "path": "/metadata/managedFields", "value": kept + [merged]}]
        metadata = obj["metadata"]
        self.resource(obj).patch(body=patch, name=metadata["name"], namespace=metadata.get("namespace"),
                                 content_type="application/json-patch+json")

    def delete(self, obj):
        metadata = obj["metadata"]
        try:
            self.resource(obj).delete(name=metadata["name"], namespace=metadata.get("namespace"),
                                      propagation_policy="Foreground")
        except ApiException as error:
            if error.status != 404:
                raise
        wait_until("%s %s deleted" % (obj["kind"], metadata["name"]), lambda: self.get(obj) is None)


def merge_fields(left, right):
    merged = dict(left)
    for key, value in right.items():
        merged[key] = merge_fields(merged[key], value) if isinstance(merged.get(key), dict) and isinstance(
            value, dict) else value
    return merged


# -- the engine -------------------------------------------------------------------------------------------------------

@dataclass
class Record:
    """One resource in the stack's state."""

    urn: str
    typ: str
    custom: bool
    inputs: dict
    outputs: dict
    provider: str = ""
    dependencies: List[str] = field(default_factory=list)
    protect: bool = False
    manager: str = ""

    @property
    def patch(self) -> bool:
        return self.typ.endswith("Patch")


class ProtectedError(Exception):
    pass


class Monitor(MockMonitor):
    """Hands the engine each registration's URN, dependencies and protect flag (MockResourceArgs has none)."""

    def __init__(self, engine):
        super().__init__(engine)
        self.engine = engine

    def RegisterResource(self, request):
        self.engine.local.request = (self.make_urn(request.parent, request.type, request.name), request)
        return super().RegisterResource(request)


class Engine(pulumi.runtime.Mocks):
    """A stack's state kept across `up`s, and the steps each `up` took: (operation, urn)."""

    def __init__(self, name):
        self.name = name
        self.state: Dict[str, Record] = {}
        self.local = threading.local()
        self.lock = threading.Lock()
        self.servers: Dict[str, Server] = {}
        self.steps: List[tuple] = []
        self.registered: set = set()

    # -- a run --

    def up(self, program, config: dict):
        """Run the program; apply each registration; then delete what it no longer declares. Returns the
        stack outputs; raises what the program or a step raised (steps done before stay done, as they do)."""
        self.steps, self.registered = [], set()
        pulumi.runtime.set_mocks(self, project="gpufabric", stack=self.name, preview=False, monitor=Monitor(self))
        pulumi.runtime.set_all_config(dict(("gpufabric:%s" % key, value) for key, value in config.items()))

        @pulumi.runtime.test
        def run():
            program()

        run()
        self.delete_removed()
        root = pulumi.runtime.settings.get_root_resource()
        return dict(getattr(root, "outputs", {}) or {})

    def changes(self):
        return [step for step in self.steps if step[0] != "same"]

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        urn, request = self.local.request
        inputs = reveal(args.inputs)
        with self.lock:
            self.registered.add(urn)
            old = self.state.get(urn)
            record = Record(urn, args.typ, bool(args.custom), inputs, {}, request.provider,
                            list(request.dependencies), bool(request.protect), old.manager if old else "")
            if args.typ == PROVIDER_TYPE:
                self.servers[urn] = Server(inputs.get("kubeconfig"), inputs.get("context"))
                record.outputs = inputs
            elif args.custom:
                record.outputs = self.step(record, old)
            self.state[urn] = record
        identity = record.inputs.get("metadata") or {}
        name = identity.get("name", args.name)
        return ("%s/%s" % (identity["namespace"], name) if identity.get("namespace") else name), record.outputs

    def call(self, args):
        return {}

    def server_of(self, record) -> Server:
        return self.servers[record.provider.rsplit("::", 1)[0]]

    def step(self, record: Record, old: Optional[Record]) -> dict:
        server, obj = self.server_of(record), record.inputs
        if old is not None and old.inputs == obj:
            self.steps.append(("same", record.urn))
            return old.outputs
        if old is None:
            record.manager = "pulumi-kubernetes-" + secrets.token_hex(4)
            live = self.retry(lambda: server.apply(obj, record.manager) if record.patch else server.create(obj))
            self.steps.append(("create", record.urn))
        else:
            if obj["kind"] == "CustomResourceDefinition":
                live = server.replace(obj, record.manager)
            else:
                if not record.patch:
                    server.hand_over_fields(obj, record.manager)
                live = server.apply(obj, record.manager)
            self.steps.append(("update", record.urn))
        return self.await_ready(server, obj, live)

    @staticmethod
    def retry(send):
        """The provider's create retries (5, backing off) while the namespace or the kind is not there yet."""
        for attempt in range(6):
            try:
                return send()
            except (ResourceNotFoundError, ApiException) as error:
                if attempt == 5 or (isinstance(error, ApiException) and error.status != 404):
                    raise
                time.sleep(0.25 * 2 ** attempt)

    @staticmethod
    def await_ready(server, obj, live):
        annotations = (obj["metadata"].get("annotations") or {})
        if annotations.get(SKIP_AWAIT) == "true":
            return live
        kind = obj["kind"]
        if kind in ("Deployment", "Job"):
            raise AssertionError("%s %s: the provider would wait for it to roll out, which needs kubelets; the "
                                 "program must not leave workloads awaited" % (kind, obj["metadata"]["name"]))
        if kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
            return wait_until("token in Secret %s" % obj["metadata"]["name"], lambda: _if(
                server.get(obj), lambda s: (s or {}).get("data")))
        if kind == "ResourceQuota":
            return wait_until("quota %s counted" % obj["metadata"]["name"], lambda: _if(
                server.get(obj), lambda q: q and (q.get("status") or {}).get("hard") == q["spec"].get("hard")))
        if kind == "ServiceAccount" and server.version < (1, 24):
            wanted = len(obj.get("secrets") or [])
            return wait_until("token of ServiceAccount %s" % obj["metadata"]["name"], lambda: _if(
                server.get(obj), lambda a: len((a or {}).get("secrets") or []) > wanted))
        return live

    def delete_removed(self):
        gone = [record for urn, record in self.state.items() if urn not in self.registered]
        protected = [record.urn for record in gone if record.protect]
        if protected:
            raise ProtectedError("resources are protected and cannot be deleted: %s" % ", ".join(protected))
        pending = dict((record.urn, record) for record in gone)
        while pending:
            ready = [record for record in pending.values()
                     if not any(record.urn in other.dependencies for other in pending.values())]
            assert ready, "deletions wait for each other: %s" % ", ".join(pending)
            for record in ready:
                if record.custom and record.typ != PROVIDER_TYPE:
                    server = self.server_of(record)
                    if record.patch:
                        metadata = record.inputs["metadata"]
                        server.apply({"apiVersion": record.inputs["apiVersion"], "kind": record.inputs["kind"],
                                      "metadata": dict((k, metadata[k]) for k in ("name", "namespace")
                                                       if metadata.get(k))}, record.manager)
                    else:
                        server.delete(record.inputs)
                    self.steps.append(("delete", record.urn))
                del pending[record.urn]
                del self.state[record.urn]


# -- what both servers hold -------------------------------------------------------------------------------------------

COMPARED = [("v1", "Namespace"), ("v1", "Node"), ("v1", "ResourceQuota"), ("v1", "ServiceAccount"), ("v1", "Secret"),
            ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"), ("apps/v1", "Deployment"), ("batch/v1", "Job"),
            ("gpufabric.io/v1alpha1", "Tenant"), ("gpufabric.io/v1alpha1", "Pool"),
            ("gpufabric.io/v1alpha1", "ComputePool"), ("gpufabric.io/v1alpha1", "ScalingPolicy"),
            ("cluster.open-cluster-management.io/v1", "ManagedCluster"),
            ("cluster.open-cluster-management.io/v1beta2", "ManagedClusterSet"),
            ("work.open-cluster-management.io/v1", "ManifestWork"),
            ("operator.open-cluster-management.io/v1", "Klusterlet")]
SERVER_KEPT = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink")
TOKEN_TYPE = "kubernetes.io/service-account-token"


def normalised(obj, facts=None):
    """An object as both tools must agree on it; facts: {cluster-specific text: placeholder} (server URLs, CAs,
    uids, tokens of a fleet), replaced everywhere, base64-encoded text included."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    metadata = obj["metadata"]
    for key in SERVER_KEPT:
        metadata.pop(key, None)
    annotations = dict((key, value) for key, value in (metadata.get("annotations") or {}).items()
                       if key != FINGERPRINT and not key.startswith("pulumi.com/")
                       and key != "kubernetes.io/service-account.uid")
    metadata.pop("annotations", None)
    if annotations:
        metadata["annotations"] = annotations
    if obj["kind"] == "ServiceAccount":
        obj.pop("secrets", None)  # the token controller's
    if obj["kind"] == "Secret" and obj.get("type") == TOKEN_TYPE:
        obj.pop("data", None)  # the token controller's
    elif obj["kind"] == "Secret":  # compared as the text it holds, where a fleet's own facts can be replaced
        obj["data"] = dict((key, base64.b64decode(value).decode("utf-8", "replace"))
                           for key, value in (obj.get("data") or {}).items())
    text = json.dumps(obj, sort_keys=True)
    for real, placeholder in sorted((facts or {}).items(), key=lambda item: -len(item[0])):
        text = text.replace(real, placeholder)
        text = text.replace(base64.b64encode(real.encode()).decode(), placeholder + "(base64)")
    return json.loads(text)


def snapshot(api_client, facts=None):
    """{(kind, namespace, name): object} of every compared kind the server serves. Secrets and ServiceAccounts
    the controllers name with random suffixes (`<account>-token-xxxxx`) are keyed by their account instead."""
    dyn = dynamic.DynamicClient(api_client)
    found = {}
    for api_version, kind in COMPARED:
        try:
            resource = dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            continue
        for item in resource.get().to_dict()["items"]:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            metadata = item["metadata"]
            name = metadata["name"]
            account = (metadata.get("annotations") or {}).get("kubernetes.io/service-account.name")
            if kind == "Secret" and item.get("type") == TOKEN_TYPE and name.startswith(account + "-token-") \
                    and len(name) == len(account) + len("-token-") + 5:
                name = account + "-token-(generated)"
                metadata["name"] = name
            found[(kind, metadata.get("namespace", ""), name)] = normalised(item, facts)
    return found


def differences(left, right):
    """Keys only on one side, and per key the first paths that differ."""
    lines = []
    for key in sorted(set(left) | set(right)):
        if key not in right:
            lines.append("only with Ansible: %s" % (key,))
        elif key not in left:
            lines.append("only with Pulumi: %s" % (key,))
        elif left[key] != right[key]:
            lines.append("%s differs: %s" % (key, "; ".join(paths(left[key], right[key]))))
    return lines


def paths(left, right, where=""):
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            found += paths(left.get(key), right.get(key), "%s.%s" % (where, key))
        return found
    return [] if left == right else ["%s: %r != %r" % (where or ".", left, right)]


# -- the demo on two fresh control planes ----------------------------------------------------------------------------

def populate(plane):
    """The demo's nodes and running pods (tests/harness/demo.py), as the API holds them."""
    core = client.CoreV1Api(plane.api_client())
    for name, product, gpus in NODES:
        create_node(core, name, gpu_product=product, gpus=gpus, cpu=64 if gpus else 16,
                    memory="512Gi" if gpus else "64Gi")
    for name, product, gpus, cpu, memory in EDGE_HOSTS:
        create_node(core, name, gpu_product=product, gpus=gpus, cpu=cpu, memory=memory,
                    labels={"palette.ai.rg/site": "edge"}, gpu_memory_mib=40960 if gpus else None)
    for namespace, name, node, gpus, pool in PODS:
        create_pod(core, namespace, name, node, gpus=gpus, node_selector={PREFIX + "/pool": pool})


def remove_collection_manifests(plane, kinds=None):
    """What the harness installs on every control plane and the program declares itself: CRDs and RBAC from
    manifests/ (of `kinds`, when given). Removed from the Pulumi side so its first `pulumi up` starts from a
    cluster without them."""
    api = plane.api_client()
    server = dynamic.DynamicClient(api)
    for path in sorted((REPO / "manifests").glob("*/*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and (kinds is None or document["kind"] in kinds):
                resource = server.resources.get(api_version=document["apiVersion"], kind=document["kind"])
                resource.delete(name=document["metadata"]["name"])
                name = document["metadata"]["name"]
                wait_gone(name, lambda r=resource, n=name: r.get(name=n), WAIT)


@dataclass
class Sides:
    ansible: ControlPlane
    pulumi: ControlPlane
    engine: Engine
    folder: Path

    def ansible_run(self, spec_path):
        result = run_module("fabric", {"spec": read_fabric_spec(str(spec_path))}, str(self.ansible.kubeconfig))
        assert not result.get("failed"), result.get("msg")
        return result

    def pulumi_run(self, spec_path):
        from gpufabric_pulumi.config import StackConfig
        from gpufabric_pulumi.program import declare_stack

        return self.engine.up(lambda: declare_stack(StackConfig.load()),
                              {"spec": str(spec_path), "kubeconfig": str(self.pulumi.kubeconfig), "context": "admin"})

    def compare(self):
        left, right = snapshot(self.ansible.api_client()), snapshot(self.pulumi.api_client())
        assert differences(left, right) == []
        return left, right


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pulumi-equivalence")
    planes = [ControlPlane(folder / "ansible", "ansible"), ControlPlane(folder / "pulumi", "pulumi")]
    try:
        for plane in planes:
            plane.up()
            populate(plane)
        remove_collection_manifests(planes[1])
        yield Sides(planes[0], planes[1], Engine("demo"), folder)
    finally:
        for plane in planes:
            plane.down(quiet=True)


def node_labels(plane, node):
    labels = client.CoreV1Api(plane.api_client()).read_node(node).metadata.labels or {}
    return dict((key, value) for key, value in labels.items() if key.startswith(PREFIX + "/"))


def test_demo_spec_gives_the_same_objects_on_both_servers(demo):
    demo.ansible_run(DEMO)
    outputs = demo.pulumi_run(DEMO)
    assert [op for op, urn in demo.engine.steps if op != "create"] == []
    left, right = demo.compare()
    assert ("Tenant", "", "research") in right and ("ComputePool", "vision", "vision-cluster") in right
    assert ("CustomResourceDefinition", "", "pools.gpufabric.io") in right
    assert right[("Node", "", "host-uid-3")]["metadata"]["labels"][PREFIX + "/compute-pool"] == "vision-cluster"
    assert outputs["nodePools"]["gpu-node-1"] == {"pool": "training-pool", "gpu-type": "A100-100G"}
    # what the provider's create leaves: the object's fields owned by `pulumi-kubernetes`, and a node's labels by
    # its patch's own manager
    managers = dict((entry.manager, entry.operation) for entry in client.CoreV1Api(
        demo.pulumi.api_client()).read_namespace("vision").metadata.managed_fields)
    assert managers.get(CREATE_MANAGER) == "Update"
    node = client.CoreV1Api(demo.pulumi.api_client()).read_node("gpu-node-1").metadata.managed_fields
    assert any(entry.manager.startswith("pulumi-kubernetes-") and entry.operation == "Apply" for entry in node)


def test_a_rerun_on_the_converged_clusters_changes_nothing(demo):
    """The program plans against what the first run left (compute pool hosts kept, the same labels): every
    resource is registered with the inputs it had, so the engine has nothing to do; nor has the fabric module."""
    again = demo.ansible_run(DEMO)
    assert again["changed"] is False
    demo.pulumi_run(DEMO)
    assert demo.engine.changes() == []
    demo.compare()


def test_a_node_leaving_a_pool_loses_its_label_on_both_servers(demo):
    """cpu-node-2 leaves compute-pool: the fabric module removes its label; the program no longer declares its
    patch, which gives its labels up; the Pool changes on both."""
    shutil.copytree(DEMO.parent, demo.folder / "changed")
    spec = demo.folder / "changed" / DEMO.name
    pool = spec.parent / "pools" / "compute-pool.yaml"
    document = yaml.safe_load(pool.read_text())
    del document["nodes"]["cpu-node-2"]
    pool.write_text(yaml.safe_dump(document))
    assert node_labels(demo.ansible, "cpu-node-2") == node_labels(demo.pulumi, "cpu-node-2") == {
        PREFIX + "/pool": "compute-pool"}

    demo.ansible_run(spec)
    demo.pulumi_run(spec)
    assert node_labels(demo.ansible, "cpu-node-2") == node_labels(demo.pulumi, "cpu-node-2") == {}
    steps = sorted((op, urn.rsplit("::", 1)[-1]) for op, urn in demo.engine.changes())
    assert steps == [("delete", "cpu-node-2"), ("update", "compute-pool")]
    left, right = demo.compare()
    assert right[("Pool", "", "compute-pool")]["spec"]["nodes"] == [{"name": "cpu-node-1"}]


def test_removing_a_project_with_its_apps_is_stopped_by_protect(demo):
    """vision, its compute pool and its app leave the spec together: the core plans that removal (nothing would
    stay in the namespace), but the namespace was protected while it held the app, so the deletions stop before
    the first one and the app keeps running."""
    spec = demo.folder / "changed" / DEMO.name
    document = yaml.safe_load(spec.read_text())
    document["projects"] = [p for p in document["projects"] if p["name"] != "vision"]
    document["compute_pools"] = []
    document["apps"] = [app for app in document["apps"] if app["namespace"] != "vision"]
    spec.write_text(yaml.safe_dump(document))
    with pytest.raises(ProtectedError) as error:
        demo.pulumi_run(spec)
    assert "kubernetes:core/v1:Namespace::vision" in str(error.value)
    assert [op for op, urn in demo.engine.changes() if op == "delete"] == []
    apps = client.AppsV1Api(demo.pulumi.api_client())
    assert apps.read_namespaced_deployment("llm-serve", "vision").metadata.name == "llm-serve"


# -- a hub and two spokes, twice ---------------------------------------------------------------------------------------

FLEET_SPEC = REPO / "playbooks" / "files" / "demo-fleet.yml"
SPOKES = ("spoke-1", "spoke-2")


def populate_fleet(fleet):
    """The fleet demo's nodes (tests/harness/demo.py): the hub's as in the demo, and each spoke's own."""
    populate(fleet.hub)
    for spoke, nodes in SPOKE_NODES.items():
        core = client.CoreV1Api(fleet.cluster(spoke).api_client())
        for name, product, gpus in nodes:
            create_node(core, name, gpu_product=product, gpus=gpus, cpu=64 if gpus else 16,
                        memory="512Gi" if gpus else "64Gi")


def remove_declared_manifests(fleet):
    """What the harness installs and the program declares itself: on the hub the CRDs and RBAC of manifests/, on
    each spoke the CRDs and ClusterRoles (registration puts no binding there; the harness's stays, on both
    sides)."""
    remove_collection_manifests(fleet.hub)
    for spoke in SPOKES:
        remove_collection_manifests(fleet.cluster(spoke), kinds=("CustomResourceDefinition", "ClusterRole"))


def fleet_facts(fleet):
    """{text particular to this fleet: placeholder}: each server's URL, CA, kube-system uid, and the tokens the
    token controllers issued for the identities registration made."""
    facts = {}
    for plane in fleet.clusters:
        core = client.CoreV1Api(plane.api_client())
        facts[plane.server] = "<%s-url>" % plane.name
        facts[plane.ca_cert.read_text()] = "<%s-ca>" % plane.name
        facts[core.read_namespace("kube-system").metadata.uid] = "<%s-uid>" % plane.name
        for namespace, name in (("open-cluster-management", "gpufabric-bootstrap-token"),
                                ("gpufabric-system", "gpufabric-hub-token")):
            try:
                data = core.read_namespaced_secret(name, namespace).data or {}
            except ApiException as error:
                if error.status == 404:
                    continue
                raise
            if data.get("token"):
                facts[base64.b64decode(data["token"]).decode()] = "<%s-%s>" % (plane.name, name)
    return facts


@dataclass
class FleetSides:
    ansible: Fleet
    pulumi: Fleet
    engine: Engine
    folder: Path

    def ansible_run(self, spec_path):
        inventory = self.folder / "inventory.yml"
        kubeconfig = str(self.ansible.kubeconfig)
        inventory.write_text(yaml.safe_dump({"all": {
            "vars": {"hub_connection": {"kubeconfig": kubeconfig, "context": "hub-admin"}},
            "children": {"hub": {"hosts": {"hub-cluster": None}},
                         "spokes": {"hosts": dict((name, {"spoke": {"cluster": {
                             "kubeconfig": kubeconfig, "context": "%s-operator" % name}}}) for name in SPOKES)}}}}))
        env = ansible_env()
        env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
        out = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
                              str(REPO / "playbooks" / "site.yml"), "-e", json.dumps({"fabric_spec": str(spec_path)})],
                             capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        return out.stdout

    def pulumi_run(self, spec_path):
        from gpufabric_pulumi.config import StackConfig
        from gpufabric_pulumi.program import declare_stack

        connections = dict((name, {"context": "%s-admin" % name}) for name in SPOKES)
        return self.engine.up(lambda: declare_stack(StackConfig.load()), {
            "spec": str(spec_path), "kubeconfig": str(self.pulumi.kubeconfig), "context": "hub-admin",
            "spokeConnections": json.dumps(connections)})

    def compare(self):
        """Cluster by cluster, with each fleet's own URLs, CAs, uids and tokens replaced by the same placeholders."""
        found = {}
        facts = (fleet_facts(self.ansible), fleet_facts(self.pulumi))
        for name in ("hub",) + SPOKES:
            left = snapshot(self.ansible.cluster(name).api_client(), facts[0])
            right = snapshot(self.pulumi.cluster(name).api_client(), facts[1])
            assert differences(left, right) == [], name
            found[name] = (left, right)
        return found


@pytest.fixture(scope="module")
def fleets(demo, tmp_path_factory):
    """Two fleets (a hub and two spokes each), started once the single-cluster planes are down."""
    for plane in (demo.ansible, demo.pulumi):
        plane.down(quiet=True)
    folder = tmp_path_factory.mktemp("pulumi-fleets")
    started = []
    try:
        for side in ("ansible", "pulumi"):
            fleet = Fleet.at(folder / side, spokes=len(SPOKES)).up()
            started.append(fleet)
            populate_fleet(fleet)
        remove_declared_manifests(started[1])
        yield FleetSides(started[0], started[1], Engine("fleet"), folder)
    finally:
        for fleet in started:
            fleet.down(quiet=True)


def test_fleet_spec_gives_the_same_objects_on_the_hub_and_each_spoke(fleets):
    fleets.ansible_run(FLEET_SPEC)
    outputs = fleets.pulumi_run(FLEET_SPEC)
    found = fleets.compare()
    hub, spoke_1 = found["hub"][1], found["spoke-1"][1]
    assert ("ManagedCluster", "", "spoke-1") in hub and ("Secret", "spoke-1", "gpufabric-spoke-connection") in hub
    assert ("Klusterlet", "", "klusterlet") in spoke_1
    assert ("Deployment", "vision", "finetune") in spoke_1
    assert outputs["spokes"]["spoke-1"]["apps"] == ["vision/finetune"]
    assert outputs["spokes"]["spoke-2"]["apps"] == ["nlp/embed"]


def test_the_fleet_rerun_changes_nothing(fleets):
    fleets.ansible_run(FLEET_SPEC)
    fleets.pulumi_run(FLEET_SPEC)
    assert fleets.engine.changes() == []
    fleets.compare()
