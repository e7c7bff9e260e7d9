"""Bad input to every writing module and to the fabric spec, against the real control plane.

Each case must fail, its message must name the option (its path) and the value given, or, for a rule across
objects, the objects and the numbers, and the API server must see no write request from the run: none stored and
none refused, not even a dry run. The few cases only the API server can judge (it owns the pod schema) may send
dry runs, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.harness.ansible import run_module, run_playbook
from tests.harness.audit import is_dry_run
from tests.harness.nodes import create_node, wait_bound

pytestmark = pytest.mark.integration

A100 = "NVIDIA-A100"
DROP = object()  # an argument the case leaves out of the base arguments


@dataclass(frozen=True)
class Case:
    """module: the module run (fabric takes `spec`); names: what the message must contain; unwanted: what it must
    not (a false consequence of the error it names); server: only the API server's dry run can refuse it."""

    id: str
    module: str
    args: dict
    names: tuple
    server: bool = False
    unwanted: tuple = ()


def merged(base, changes):
    args = dict(base)
    for key, value in changes.items():
        if value is DROP:
            args.pop(key, None)
        else:
            args[key] = value
    return args


# -- what the cases start from: valid arguments, which each case spoils in one place ------------------------------

def tenant_args(**changes):
    return merged({"name": "bad-new-tenant", "gpu_quota": {A100: 4}}, changes)


def project_args(**changes):
    return merged({"name": "bad-new-project", "tenant": "bad-tenant", "gpu_quota": {A100: 1},
                   "members": [{"user": "alice", "role": "admin"}], "pool_access": [{"pool": "bad-pool",
                                                                                     "groups": ["ml"]}]}, changes)


def pool_args(**changes):
    return merged({"name": "bad-new-pool", "nodes": {"bad-n3": {"gpu_type": "A100-80G"}}}, changes)


def document(**changes):
    return merged({"kind": "pool", "version": "v0.1", "pool": {"name": "bad-doc-pool", "description": "d"},
                   "nodes": {"bad-n3": {"gpu-type": "A100-80G"}}}, changes)


def worker(**changes):
    return merged({"name": "gpu", "gpu": {"family": A100, "count": 8}, "min_worker_nodes": 1}, changes)


def compute_args(**changes):
    return merged({"name": "bad-new-cp", "namespace": "bad-proj",
                   "control_plane": {"node_count": 1, "resource_groups": {"suite": "bad-cp"}},
                   "worker_resource_groups": {"suite": "bad-cp"}, "worker_pools": [worker()]}, changes)


def app_args(**changes):
    return merged({"name": "bad-new-app", "namespace": "bad-proj", "pool": "bad-big", "image": "busybox:1.36",
                   "replicas": 1, "resources": {"gpu": 1}}, changes)


def template(**spec):
    return [{"spec": spec}]


def container(**fields):
    """A pod template changing the app's own container (named after the app)."""
    return template(containers=[dict({"name": "bad-new-app"}, **fields)])


def case(case_id, module, args, *names, **extra):
    return Case(case_id, module, args, names, **extra)


def fabric(case_id, spec, *names, **extra):
    return Case(case_id, "fabric", {"spec": spec}, names, **extra)


TENANTS = [
    case("tenant-unknown-option", "tenant", tenant_args(quota={A100: 1}),
         "unknown option quota (did you mean gpu_quota?)"),
    case("tenant-quota-list", "tenant", tenant_args(gpu_quota=[A100]),
         "gpu_quota must be a mapping, got ['NVIDIA-A100']"),
    case("tenant-quota-string", "tenant", tenant_args(gpu_quota="16"), "gpu_quota must be a mapping, got '16'"),
    case("tenant-quota-negative", "tenant", tenant_args(gpu_quota={A100: -1}),
         "gpu_quota NVIDIA-A100: -1 is not a non-negative integer"),
    case("tenant-quota-fraction", "tenant", tenant_args(gpu_quota={A100: 2.5}),
         "gpu_quota NVIDIA-A100: 2.5 is not a non-negative integer"),
    case("tenant-quota-1e23", "tenant", tenant_args(gpu_quota={A100: 1e23}),
         "gpu_quota NVIDIA-A100: 1e+23 is not a non-negative integer"),
    case("tenant-quota-10e30", "tenant", tenant_args(gpu_quota={A100: 10 ** 30}),
         "gpu_quota NVIDIA-A100: %d is more than 1000000 GPUs" % 10 ** 30),
    case("tenant-quota-bool", "tenant", tenant_args(gpu_quota={A100: True}),
         "gpu_quota NVIDIA-A100: True is not a non-negative integer"),
    case("tenant-quota-text", "tenant", tenant_args(gpu_quota={A100: "eight"}),
         "gpu_quota NVIDIA-A100: 'eight' is not a non-negative integer"),
    case("tenant-quota-family-empty", "tenant", tenant_args(gpu_quota={"": 4}), "gpu_quota: empty GPU family"),
    case("tenant-quota-family-blank", "tenant", tenant_args(gpu_quota={"  ": 4}), "gpu_quota: empty GPU family"),
    case("tenant-quota-family-symbols", "tenant", tenant_args(gpu_quota={"NVIDIA/A100!": 4}),
         "gpu_quota family 'NVIDIA/A100!' may contain only letters, digits"),
    case("tenant-quota-family-long", "tenant", tenant_args(gpu_quota={"NVIDIA-" + "A" * 60: 4}),
         "gpu_quota family 'NVIDIA-%s' is 67 characters; the limit is 63" % ("A" * 60)),
    case("tenant-quota-family-twice", "tenant", tenant_args(gpu_quota={"NVIDIA A100": 1, "nvidia_a100": 2}),
         "gpu_quota: family NVIDIA-A100 is listed twice (as 'nvidia_a100')"),
    case("tenant-name-uppercase", "tenant", tenant_args(name="Research"),
         "tenant name 'Research' is not a DNS-1123 label"),
    case("tenant-name-64", "tenant", tenant_args(name="t" * 64),
         "tenant name '%s' is 64 characters; the limit is 63" % ("t" * 64)),
    case("tenant-name-underscore", "tenant", tenant_args(name="re_search"),
         "tenant name 're_search' is not a DNS-1123 label"),
    case("tenant-name-list", "tenant", tenant_args(name=["research"]), "name must be a string, got ['research']"),
    case("tenant-name-missing", "tenant", tenant_args(name=DROP), "name is required"),
    case("tenant-force-text", "tenant", tenant_args(force="maybe"), "force must be true or false, got 'maybe'"),
    case("tenant-state-unknown", "tenant", tenant_args(state="gone"),
         "state is 'gone'; expected one of present, absent"),
    case("tenant-prefix-kubernetes-io", "tenant", tenant_args(label_prefix="kubernetes.io"),
         "label prefix 'kubernetes.io' is inside kubernetes.io"),
    # rules across objects
    case("tenant-quota-below-its-projects", "tenant", {"name": "bad-tenant", "gpu_quota": {A100: 9}},
         "tenant bad-tenant: projects request 10 x NVIDIA-A100 (bad-proj 10) but the tenant quota is 9: over by 1"),
    case("tenant-absent-with-projects", "tenant", {"name": "bad-tenant", "state": "absent"},
         "tenant bad-tenant still has 1 project(s): bad-proj"),
]

PROJECTS = [
    case("project-unknown-option", "project", project_args(member=[]), "unknown option member (did you mean members?)"),
    case("project-members-unknown-key", "project", project_args(members=[{"user": "alice", "roles": "admin"}]),
         "members[0]: unknown option roles (did you mean role?)"),
    case("project-pool-access-unknown-key", "project", project_args(pool_access=[{"pool": "bad-pool", "user": ["a"]}]),
         "pool_access[0]: unknown option user (did you mean users?)"),
    case("project-members-string", "project", project_args(members="alice"), "members must be a list, got 'alice'"),
    case("project-members-mapping", "project", project_args(members={"user": "alice", "role": "admin"}),
         "members must be a list, got {'user': 'alice', 'role': 'admin'}"),
    case("project-member-string", "project", project_args(members=["alice"]),
         "members[0] must be a mapping, got 'alice'"),
    case("project-member-user-list", "project", project_args(members=[{"user": ["alice"], "role": "admin"}]),
         "members[0].user must be a string, got ['alice']"),
    case("project-member-user-and-group", "project",
         project_args(members=[{"user": "alice", "group": "ml", "role": "admin"}]),
         "members[0]: user and group are mutually exclusive"),
    case("project-member-neither", "project", project_args(members=[{"role": "admin"}]),
         "members[0]: one of user, group is required"),
    case("project-member-no-role", "project", project_args(members=[{"user": "alice"}]), "members[0].role is required"),
    case("project-member-role-unknown", "project", project_args(members=[{"user": "alice", "role": "owner"}]),
         "members[0].role is 'owner'; expected one of admin, editor, viewer"),
    case("project-pool-access-string", "project", project_args(pool_access="bad-pool"),
         "pool_access must be a list, got 'bad-pool'"),
    case("project-pool-access-users-string", "project",
         project_args(pool_access=[{"pool": "bad-pool", "users": "alice"}]),
         "pool_access[0].users must be a list, got 'alice'"),
    case("project-pool-access-pool-invalid", "project", project_args(pool_access=[{"pool": "Training Pool"}]),
         "pool_access pool 'Training Pool' is not a DNS-1123 label"),
    case("project-pool-access-twice", "project", project_args(pool_access=[{"pool": "bad-pool"}, {"pool": "bad-pool"}]),
         "pool_access lists pool bad-pool twice"),
    case("project-description-mapping", "project", project_args(description={"a": 1}),
         "description must be a string, got {'a': 1}"),
    case("project-quota-list", "project", project_args(gpu_quota=[1]), "gpu_quota must be a mapping, got [1]"),
    case("project-quota-negative", "project", project_args(gpu_quota={A100: -3}),
         "gpu_quota NVIDIA-A100: -3 is not a non-negative integer"),
    case("project-quota-1e23", "project", project_args(gpu_quota={A100: 1e23}),
         "gpu_quota NVIDIA-A100: 1e+23 is not a non-negative integer"),
    case("project-quota-null", "project", project_args(gpu_quota={A100: None}),
         "gpu_quota NVIDIA-A100: None is not a non-negative integer"),
    case("project-quota-family-empty", "project", project_args(gpu_quota={"": 2}), "gpu_quota: empty GPU family"),
    case("project-name-uppercase", "project", project_args(name="Vision"),
         "project name 'Vision' is not a DNS-1123 label"),
    case("project-name-trailing-dot", "project", project_args(name="vision."),
         "project name 'vision.' is not a DNS-1123 label"),
    case("project-name-64", "project", project_args(name="p" * 64),
         "project name '%s' is 64 characters; the limit is 63" % ("p" * 64)),
    case("project-tenant-invalid", "project", project_args(tenant="Bad_Tenant"),
         "tenant name 'Bad_Tenant' is not a DNS-1123 label"),
    case("project-prefix-node-kubernetes-io", "project", project_args(label_prefix="node.kubernetes.io"),
         "label prefix 'node.kubernetes.io' is inside kubernetes.io"),
    # rules across objects
    case("project-tenant-missing", "project", project_args(tenant="bad-ghost-tenant"),
         "tenant bad-ghost-tenant does not exist"),
    case("project-over-its-tenant", "project", project_args(gpu_quota={A100: 7}),
         "tenant bad-tenant: projects request 17 x NVIDIA-A100 (bad-new-project 7, bad-proj 10) but the tenant "
         "quota is 16: over by 1"),
    case("project-quota-below-its-apps", "project", {"name": "bad-proj", "tenant": "bad-tenant",
                                                     "gpu_quota": {A100: 2}},
         "project bad-proj: its app deployments hold 3 x NVIDIA-A100 but the new quota is 2", "short by 1"),
    case("project-absent-with-apps", "project", {"name": "bad-proj", "state": "absent"},
         "project bad-proj still has 2 app deployment(s): Deployment/bad-app, Deployment/bad-capp"),
]

POOLS = [
    case("pool-unknown-option", "pool_label", pool_args(node={"bad-n3": {}}),
         "unknown option node (did you mean nodes?)"),
    case("pool-node-unknown-key", "pool_label", pool_args(nodes={"bad-n3": {"gpu_typ": "A100"}}),
         "pool bad-new-pool node bad-n3: unknown key gpu_typ (the only key is gpu_type)"),
    case("pool-nodes-list", "pool_label", pool_args(nodes=["bad-n3"]), "nodes must be a mapping, got ['bad-n3']"),
    case("pool-nodes-string", "pool_label", pool_args(nodes="bad-n3"), "nodes must be a mapping, got 'bad-n3'"),
    case("pool-node-string", "pool_label", pool_args(nodes={"bad-n3": "A100"}),
         "pool bad-new-pool node bad-n3: expected {gpu_type: TYPE}, got 'A100'"),
    case("pool-gpu-type-list", "pool_label", pool_args(nodes={"bad-n3": {"gpu_type": ["A100"]}}),
         "pool bad-new-pool node bad-n3: gpu_type must be a string, got ['A100']"),
    case("pool-gpu-type-space", "pool_label", pool_args(nodes={"bad-n3": {"gpu_type": "A100 80G"}}),
         "pool bad-new-pool node bad-n3 gpu_type 'A100 80G' may contain only"),
    case("pool-gpu-type-64", "pool_label", pool_args(nodes={"bad-n3": {"gpu_type": "g" * 64}}),
         "pool bad-new-pool node bad-n3 gpu_type '%s' is 64 characters; the limit is 63" % ("g" * 64)),
    case("pool-overwrite-text", "pool_label", pool_args(overwrite="perhaps"),
         "overwrite must be true or false, got 'perhaps'"),
    case("pool-description-list", "pool_label", pool_args(description=["x"]),
         "description must be a string, got ['x']"),
    case("pool-definition-string", "pool_label", {"definition": "kind: pool"},
         "definition must be a mapping, got 'kind: pool'"),
    case("pool-name-default", "pool_label", pool_args(name="default"),
         "pool name 'default' is reserved for nodes without a pool label"),
    case("pool-name-uppercase", "pool_label", pool_args(name="Training"),
         "pool name 'Training' is not a DNS-1123 label"),
    case("pool-name-64", "pool_label", pool_args(name="p" * 64),
         "pool name '%s' is 64 characters; the limit is 63" % ("p" * 64)),
    case("pool-name-leading-dash", "pool_label", pool_args(name="-pool"), "pool name '-pool' is not a DNS-1123 label"),
    case("pool-selector-invalid", "pool_label", {"name": "bad-new-pool", "node_selector": "a in (b"},
         "node_selector term 'a in (b' is not a label selector requirement"),
    case("pool-nodes-and-selector", "pool_label", pool_args(node_selector="team=ml"),
         "nodes and node_selector are mutually exclusive"),
    case("pool-nothing-to-join", "pool_label", {"name": "bad-new-pool"},
         "pool bad-new-pool: state=present needs nodes, node_selector, definition or src"),
    case("pool-prefix-k8s-io", "pool_label", pool_args(label_prefix="k8s.io"),
         "label prefix 'k8s.io' is inside k8s.io"),
    case("pool-prefix-not-subdomain", "pool_label", pool_args(label_prefix="not a domain"),
         "label prefix 'not a domain' is not a DNS-1123 subdomain"),
    case("pool-prefix-uppercase", "pool_label", pool_args(label_prefix="Runwhere.AI"),
         "label prefix 'Runwhere.AI' is not a DNS-1123 subdomain"),
    case("pool-prefix-trailing-slash", "pool_label", pool_args(label_prefix="runwhere.ai/"),
         "label prefix 'runwhere.ai/' is not a DNS-1123 subdomain"),
    # gpuctl pool documents
    case("document-unknown-key", "pool_label", {"definition": document(labels={"a": "b"})},
         "pool document: unknown key labels (known: kind, version, pool, nodes)"),
    case("document-pool-unknown-key",
         "pool_label", {"definition": document(pool={"name": "bad-doc-pool", "desc": "d"})},
         "pool document: unknown key pool.desc (known: name, description)"),
    case("document-node-unknown-key", "pool_label", {"definition": document(nodes={"bad-n3": {"gpu_typ": "A100"}})},
         "pool bad-doc-pool node bad-n3: unknown key gpu_typ"),
    case("document-kind-capitalised", "pool_label", {"definition": document(kind="Pool")},
         "pool document: kind is 'Pool'; expected 'pool'"),
    case("document-kind-other", "pool_label", {"definition": document(kind="deployment")},
         "pool document: kind is 'deployment'; expected 'pool'"),
    case("document-version-other", "pool_label", {"definition": document(version="v1")},
         "pool document: version is 'v1'; expected 'v0.1'"),
    case("document-version-number", "pool_label", {"definition": document(version=0.1)},
         "pool document: version is 0.1; expected 'v0.1'"),
    case("document-version-missing", "pool_label", {"definition": document(version=DROP)},
         "pool document: version is None; expected 'v0.1'"),
    case("document-pool-string", "pool_label", {"definition": document(pool="bad-doc-pool")},
         "pool document: pool must be a mapping {name, description}, got 'bad-doc-pool'"),
    case("document-pool-name-missing", "pool_label", {"definition": document(pool={"description": "d"})},
         "pool name must be a non-empty string, got None"),
    case("document-nodes-list", "pool_label", {"definition": document(nodes=["bad-n3"])},
         "pool document: nodes must be a mapping of node name to {gpu-type: TYPE}, got ['bad-n3']"),
    case("document-name-differs", "pool_label", {"name": "bad-other", "definition": document()},
         "name bad-other differs from the pool document's name bad-doc-pool"),
    case("document-src-missing", "pool_label", {"src": "/nonexistent/bad-pool.yaml"},
         "cannot read pool document /nonexistent/bad-pool.yaml"),
    # rules across objects
    case("pool-node-missing", "pool_label", pool_args(nodes={"bad-ghost-node": {}}),
         "node bad-ghost-node does not exist"),
    case("pool-node-in-another-pool", "pool_label", pool_args(nodes={"bad-n2": {}}),
         "node bad-n2 is in pool bad-big; set overwrite to move it to bad-new-pool"),
    case("pool-shrink-under-workload", "pool_label", {"name": "bad-pool", "nodes": {}},
         "pool bad-pool: node(s) bad-n1 would leave the pool while 1 workload(s) that select it run there"),
    case("pool-absent-under-workload", "pool_label", {"name": "bad-pool", "state": "absent"},
         "pool bad-pool: node(s) bad-n1 would leave the pool while 1 workload(s) that select it run there"),
]

COMPUTE_POOLS = [
    case("compute-unknown-option", "compute_pool", compute_args(worker_pool=[]),
         "unknown option worker_pool (did you mean worker_pools?)"),
    case("compute-control-plane-unknown-key", "compute_pool", compute_args(control_plane={"nodes_count": 1}),
         "control_plane: unknown option nodes_count (did you mean node_count?)"),
    case("compute-worker-unknown-key", "compute_pool", compute_args(worker_pools=[worker(min_workers=1)]),
         "worker_pools[0]: unknown option min_workers (did you mean min_worker_nodes?)"),
    case("compute-worker-gpu-unknown-key", "compute_pool",
         compute_args(worker_pools=[worker(gpu={"family": A100, "gpu_count": 8})]),
         "worker_pools[0].gpu: unknown option gpu_count", "worker_pools[0].gpu.count is required"),
    case("compute-scaling-policy-unknown-key", "compute_pool", compute_args(scaling_policy={"name": "sp", "ns": "x"}),
         "scaling_policy: unknown option ns"),
    case("compute-autoscale-unknown-key", "compute_pool",
         compute_args(scaling_policy={"name": "sp"}, autoscale={"samples": [], "window": 5}),
         "autoscale: unknown option window"),
    case("compute-host-unknown-key", "compute_pool", compute_args(hosts=[{"name": "bm-1", "gpu_count": 4}]),
         "host bm-1: unknown key gpu_count"),
    case("compute-worker-family-symbols", "compute_pool",
         compute_args(worker_pools=[worker(gpu={"family": "nvidia a100/80g", "count": 8})]),
         "worker pool gpu gpu.family 'NVIDIA-A100/80G' may contain only letters, digits"),
    case("compute-worker-pools-mapping", "compute_pool", compute_args(worker_pools={"name": "gpu"}),
         "worker_pools must be a list, got {'name': 'gpu'}"),
    case("compute-worker-pools-string", "compute_pool", compute_args(worker_pools="gpu"),
         "worker_pools must be a list, got 'gpu'"),
    case("compute-control-plane-list", "compute_pool", compute_args(control_plane=[1]),
         "control_plane must be a mapping, got [1]"),
    case("compute-node-count-text", "compute_pool", compute_args(control_plane={"node_count": "three"}),
         "control_plane.node_count must be an integer, got 'three'"),
    case("compute-node-count-bool", "compute_pool", compute_args(control_plane={"node_count": True}),
         "control_plane.node_count must be an integer, got True"),
    case("compute-gpu-count-text",
         "compute_pool", compute_args(worker_pools=[worker(gpu={"family": A100, "count": "eight"})]),
         "worker_pools[0].gpu.count must be an integer, got 'eight'"),
    case("compute-gpu-count-bool",
         "compute_pool", compute_args(worker_pools=[worker(gpu={"family": A100, "count": True})]),
         "worker_pools[0].gpu.count must be an integer, got True"),
    case("compute-min-nodes-fraction", "compute_pool", compute_args(worker_pools=[worker(min_worker_nodes=1.5)]),
         "worker_pools[0].min_worker_nodes must be an integer, got 1.5"),
    case("compute-gpu-string", "compute_pool", compute_args(worker_pools=[worker(gpu="A100")]),
         "worker_pools[0].gpu must be a mapping, got 'A100'"),
    case("compute-family-list", "compute_pool", compute_args(worker_pools=[worker(gpu={"family": ["a"], "count": 1})]),
         "worker_pools[0].gpu.family must be a string, got ['a']"),
    case("compute-family-empty", "compute_pool", compute_args(worker_pools=[worker(gpu={"family": "", "count": 1})]),
         "worker pool gpu: gpu.family is required"),
    case("compute-resource-groups-list", "compute_pool", compute_args(worker_resource_groups=["suite=bad-cp"]),
         "worker_resource_groups must be a mapping, got ['suite=bad-cp']"),
    case("compute-cp-resource-groups-string", "compute_pool",
         compute_args(control_plane={"resource_groups": "suite=bad-cp"}),
         "control_plane.resource_groups must be a mapping, got 'suite=bad-cp'"),
    case("compute-wait-text", "compute_pool", compute_args(wait="perhaps"),
         "wait must be true or false, got 'perhaps'"),
    case("compute-wait-timeout-text", "compute_pool", compute_args(wait_timeout="soon"),
         "wait_timeout must be an integer, got 'soon'"),
    case("compute-hosts-mapping", "compute_pool", compute_args(hosts={"bm-1": {}}),
         "hosts must be a list, got {'bm-1': {}}"),
    case("compute-host-string", "compute_pool", compute_args(hosts=["bm-1"]), "hosts[0] must be a mapping, got 'bm-1'"),
    case("compute-host-gpus-mapping", "compute_pool", compute_args(hosts=[{"name": "bm-1", "gpus": {"family": A100}}]),
         "host bm-1: gpus must be a list of {family, count, memory_mib}, got {'family': 'NVIDIA-A100'}"),
    case("compute-host-gpu-entry-string", "compute_pool", compute_args(hosts=[{"name": "bm-1", "gpus": ["A100"]}]),
         "host bm-1: a gpus entry must be a mapping {family, count, memory_mib}, got 'A100'"),
    case("compute-host-labels-list", "compute_pool", compute_args(hosts=[{"name": "bm-1", "labels": ["a"]}]),
         "host bm-1: labels must be a mapping of key: value, got ['a']"),
    case("compute-host-memory-mib-text", "compute_pool",
         compute_args(hosts=[{"name": "bm-1", "gpus": [{"family": A100, "count": 1, "memory_mib": "lots"}]}]),
         "host bm-1: gpu memory_mib: 'lots' is not a Kubernetes quantity"),
    case("compute-host-cpu-text", "compute_pool", compute_args(hosts=[{"name": "bm-1", "cpu": "lots"}]),
         "host bm-1: cpu: 'lots' is not a Kubernetes quantity"),
    case("compute-host-status-unknown", "compute_pool", compute_args(hosts=[{"name": "bm-1", "status": "Good"}]),
         "host bm-1: status 'Good' is not one of"),
    case("compute-autoscale-samples-string", "compute_pool",
         compute_args(scaling_policy={"name": "sp"}, autoscale={"samples": "x"}),
         "autoscale.samples must be a list, got 'x'"),
    case("compute-description-mapping", "compute_pool", compute_args(description={"a": 1}),
         "description must be a string, got {'a': 1}"),
    case("compute-mode-unknown", "compute_pool", compute_args(mode="exclusive"),
         "mode is 'exclusive'; expected one of dedicated, shared"),
    case("compute-architecture-unknown", "compute_pool", compute_args(control_plane={"architecture": "riscv"}),
         "control_plane.architecture is 'riscv'; expected one of AMD64, ARM64"),
    # numbers out of range
    case("compute-node-count-zero", "compute_pool", compute_args(control_plane={"node_count": 0}),
         "control_plane.node_count is 0; expected one of 1, 3, 5"),
    case("compute-node-count-even", "compute_pool", compute_args(control_plane={"node_count": 2}),
         "control_plane.node_count is 2; expected one of 1, 3, 5"),
    case("compute-node-count-negative", "compute_pool", compute_args(control_plane={"node_count": -1}),
         "control_plane.node_count is -1; expected one of 1, 3, 5"),
    case("compute-single-node-of-three", "compute_pool",
         compute_args(control_plane={"node_count": 3, "single_node_cluster": True}),
         "control plane node_count is 3; a single-node cluster has exactly 1"),
    case("compute-gpu-count-zero",
         "compute_pool", compute_args(worker_pools=[worker(gpu={"family": A100, "count": 0})]),
         "worker pool gpu gpu count is 0; it must be at least 1"),
    case("compute-gpu-count-negative", "compute_pool",
         compute_args(worker_pools=[worker(gpu={"family": A100, "count": -8})]),
         "worker pool gpu gpu count is -8; it must be at least 1"),
    case("compute-gpu-count-1e23", "compute_pool",
         compute_args(worker_pools=[worker(gpu={"family": A100, "count": 1e23})]),
         "worker_pools[0].gpu.count must be an integer, got 1e+23"),
    case("compute-gpu-count-10e30", "compute_pool",
         compute_args(worker_pools=[worker(gpu={"family": A100, "count": 10 ** 30})]),
         "worker pool gpu gpu count is %d; it must be at most 1000000" % 10 ** 30),
    case("compute-min-nodes-zero", "compute_pool", compute_args(worker_pools=[worker(min_worker_nodes=0)]),
         "worker pool gpu min_worker_nodes is 0; it must be at least 1"),
    case("compute-min-nodes-above-count", "compute_pool",
         compute_args(worker_pools=[worker(gpu={"family": A100, "count": 2}, min_worker_nodes=3)]),
         "worker pool gpu: gpu count 2 is less than min_worker_nodes 3"),
    case("compute-wait-timeout-negative", "compute_pool", compute_args(wait_timeout=-5),
         "wait_timeout is -5; it must be at least 0"),
    case("compute-wait-timeout-10e30", "compute_pool", compute_args(wait_timeout=10 ** 30),
         "wait_timeout is %d; it must be at most 604800" % 10 ** 30),
    # names
    case("compute-name-underscore", "compute_pool", compute_args(name="vision_cluster"),
         "compute pool name 'vision_cluster' is not a DNS-1123 label"),
    case("compute-name-64", "compute_pool", compute_args(name="c" * 64),
         "compute pool name '%s' is 64 characters; the limit is 63" % ("c" * 64)),
    case("compute-namespace-uppercase", "compute_pool", compute_args(namespace="Vision"),
         "namespace 'Vision' is not a DNS-1123 label"),
    case("compute-worker-name-space", "compute_pool", compute_args(worker_pools=[worker(name="gpu workers")]),
         "worker pool name 'gpu workers' is not a DNS-1123 label"),
    case("compute-worker-name-twice", "compute_pool", compute_args(worker_pools=[worker(), worker()]),
         "worker pool name gpu is used twice"),
    case("compute-resource-group-key", "compute_pool", compute_args(worker_resource_groups={"bad key!": "x"}),
         "worker_resource_groups key 'bad key!' has an invalid name part 'bad key!'"),
    case("compute-resource-group-value", "compute_pool",
         compute_args(worker_resource_groups={"suite": "high performance"}),
         "worker_resource_groups suite value 'high performance' may contain only"),
    case("compute-resource-group-key-prefix",
         "compute_pool", compute_args(worker_resource_groups={"Bad.Domain/x": "y"}),
         "worker_resource_groups key prefix 'Bad.Domain' is not a DNS-1123 subdomain"),
    case("compute-scaling-policy-name", "compute_pool", compute_args(scaling_policy={"name": "Bad"}),
         "scaling_policy_ref name 'Bad' is not a DNS-1123 label"),
    case("compute-scaling-policy-namespace", "compute_pool",
         compute_args(scaling_policy={"name": "sp", "namespace": "Bad NS"}),
         "scaling_policy_ref namespace 'Bad NS' is not a DNS-1123 label"),
    case("compute-prefix-nvidia-com", "compute_pool", compute_args(label_prefix="nvidia.com"),
         "label prefix 'nvidia.com' is inside nvidia.com"),
    case("compute-prefix-gpu-nvidia-com", "compute_pool", compute_args(label_prefix="gpu.nvidia.com"),
         "label prefix 'gpu.nvidia.com' is inside nvidia.com"),
    case("compute-rg-prefix-no-slash", "compute_pool", compute_args(resource_group_prefix="palette.ai.rg"),
         "resource_group_prefix 'palette.ai.rg' must be a DNS subdomain followed by '/'"),
    case("compute-rg-prefix-uppercase", "compute_pool", compute_args(resource_group_prefix="Palette.AI/"),
         "resource_group_prefix 'Palette.AI/' must be a DNS subdomain followed by '/'"),
    case("compute-rg-prefix-slash-only", "compute_pool", compute_args(resource_group_prefix="/"),
         "resource_group_prefix '/' must be a DNS subdomain followed by '/'"),
    case("compute-rg-prefix-space", "compute_pool", compute_args(resource_group_prefix="palette ai/"),
         "resource_group_prefix 'palette ai/' must be a DNS subdomain followed by '/'"),
    # rules across objects
    case("compute-namespace-not-a-project", "compute_pool", compute_args(namespace="bad-loose"),
         "compute pool bad-loose/bad-new-cp: namespace bad-loose is not a gpufabric project"),
    case("compute-name-in-another-namespace", "compute_pool", compute_args(name="bad-cp", namespace="bad-proj2"),
         "a compute pool named bad-cp exists in bad-proj/bad-cp"),
    case("compute-mode-changed", "compute_pool", {"name": "bad-cp", "namespace": "bad-proj", "mode": "shared",
                                                  "control_plane": {"resource_groups": {"suite": "bad-cp"}},
                                                  "worker_resource_groups": {"suite": "bad-cp"},
                                                  "worker_pools": [worker()]},
         "compute pool bad-cp: mode is dedicated and cannot change to shared"),
    case("compute-shortfall", "compute_pool", compute_args(),
         "worker pool gpu needs 8 x NVIDIA-A100 on >= 1 host in suite=bad-cp; 0 eligible on 0 hosts"),
    case("compute-autoscale-without-policy", "compute_pool",
         compute_args(autoscale={"samples": [{"time": "2024-01-15T10:30:00Z", "utilization": 0.9}]}),
         "compute pool bad-proj/bad-new-cp: autoscale needs scaling_policy"),
    case("compute-absent-with-apps", "compute_pool", {"name": "bad-cp", "namespace": "bad-proj", "state": "absent"},
         "compute pool bad-proj/bad-cp still runs 1 workload(s) (bad-proj/bad-capp)"),
]

APPS = [
    case("app-unknown-option", "app_deployment", app_args(replica=2),
         "unknown option replica (did you mean replicas?)"),
    case("app-resources-unknown-key", "app_deployment", app_args(resources={"gpus": 1}),
         "resources: unknown option gpus (did you mean gpu?)"),
    case("app-replicas-text", "app_deployment", app_args(replicas="two"), "replicas must be an integer, got 'two'"),
    case("app-replicas-bool", "app_deployment", app_args(replicas=True), "replicas must be an integer, got True"),
    case("app-replicas-list", "app_deployment", app_args(replicas=[2]), "replicas must be an integer, got [2]"),
    case("app-env-list", "app_deployment", app_args(env=["A=1"]), "env must be a mapping, got ['A=1']"),
    case("app-env-value-list", "app_deployment", app_args(env={"MODE": [1, 2]}),
         "env.MODE must be a string or a number, got [1, 2]"),
    case("app-env-value-mapping", "app_deployment", app_args(env={"MODE": {"valueFrom": "x"}}),
         "env.MODE must be a string or a number, got {'valueFrom': 'x'}"),
    case("app-env-value-null", "app_deployment", app_args(env={"MODE": None}),
         "env.MODE must be a string or a number, got None"),
    case("app-command-string", "app_deployment", app_args(command="sleep 60"),
         "command must be a list, got 'sleep 60'"),
    case("app-args-mapping", "app_deployment", app_args(args={"a": 1}), "args must be a list, got {'a': 1}"),
    case("app-resources-list", "app_deployment", app_args(resources=[1]), "resources must be a mapping, got [1]"),
    case("app-image-list", "app_deployment", app_args(image=["busybox"]), "image must be a string, got ['busybox']"),
    case("app-image-missing", "app_deployment", app_args(image=DROP), "with state=present, image is required"),
    case("app-kind-unknown", "app_deployment", app_args(kind="StatefulSet"),
         "kind is 'StatefulSet'; expected one of Deployment, Job"),
    case("app-pool-list", "app_deployment", app_args(pool=["bad-big"]), "pool must be a string, got ['bad-big']",
         unwanted=("is required",)),
    case("app-pool-and-compute-pool", "app_deployment", app_args(compute_pool="bad-cp"),
         "pool and compute_pool are mutually exclusive"),
    case("app-neither-pool", "app_deployment", app_args(pool=DROP),
         "with state=present, one of pool, compute_pool is required"),
    case("app-default-variables-list", "app_deployment", app_args(default_variables=[1]),
         "default_variables must be a mapping, got [1]"),
    case("app-validations-string", "app_deployment", app_args(resource_validations=["x"]),
         "resource_validations[0] must be a mapping, got 'x'"),
    case("app-validation-operator", "app_deployment",
         app_args(resource_validations=[{"operator": "XX", "left_operand": "{{USER_GPU}}", "right_operand": 1,
                                         "assert_message": "m"}]),
         "operator 'XX' is not one of EQ, GE, GT, LE, LT, NE"),
    case("app-validation-fails", "app_deployment",
         app_args(resources={"gpu": 2}, resource_validations=[
             {"operator": "LE", "left_operand": "{{USER_GPU}}", "right_operand": 1,
              "assert_message": "at most 1 GPU per pod, asked {{USER_GPU}}"}]),
         "at most 1 GPU per pod, asked 2"),
    # resources
    case("app-gpu-text", "app_deployment", app_args(resources={"gpu": "two"}),
         "resources.gpu must be an integer, got 'two'"),
    case("app-gpu-bool", "app_deployment", app_args(resources={"gpu": True}),
         "resources.gpu must be an integer, got True"),
    case("app-gpu-fraction", "app_deployment", app_args(resources={"gpu": 1.5}),
         "resources.gpu must be an integer, got 1.5"),
    case("app-gpu-negative", "app_deployment", app_args(resources={"gpu": -1}),
         "resources.gpu (USER_GPU) must be a whole number of GPUs from 0 to 1000000, got -1"),
    case("app-gpu-1e23", "app_deployment", app_args(resources={"gpu": 1e23}),
         "resources.gpu must be an integer, got 1e+23"),
    case("app-gpu-10e30", "app_deployment", app_args(resources={"gpu": 10 ** 30}),
         "resources.gpu (USER_GPU) must be a whole number of GPUs from 0 to 1000000, got %d" % 10 ** 30),
    case("app-cpu-garbage", "app_deployment", app_args(resources={"gpu": 1, "cpu": "lots"}),
         "resources.cpu (USER_CPU) 'lots' is not a quantity"),
    case("app-cpu-two-points", "app_deployment", app_args(resources={"gpu": 1, "cpu": "1.5.5"}),
         "resources.cpu (USER_CPU) '1.5.5' is not a quantity"),
    case("app-cpu-bool", "app_deployment", app_args(resources={"gpu": 1, "cpu": True}),
         "resources.cpu must be a string, got True"),
    case("app-cpu-negative", "app_deployment", app_args(resources={"gpu": 1, "cpu": "-2"}),
         "resources.cpu (USER_CPU) '-2' is negative"),
    case("app-memory-garbage", "app_deployment", app_args(resources={"gpu": 1, "memory": "12GBs"}),
         "resources.memory (USER_MEMORY) '12GBs' is not a quantity"),
    case("app-memory-negative", "app_deployment", app_args(resources={"gpu": 1, "memory": "-1Gi"}),
         "resources.memory (USER_MEMORY) '-1Gi' is negative"),
    case("app-storage-garbage", "app_deployment", app_args(resources={"gpu": 1, "storage": "big"}),
         "resources.storage (USER_STORAGE) 'big' is not a quantity"),
    case("app-default-cpu-garbage", "app_deployment", app_args(default_variables={"USER_CPU": "lots"}),
         "resources.cpu (USER_CPU) 'lots' is not a quantity"),
    case("app-replicas-zero", "app_deployment", app_args(replicas=0),
         "replicas must be an integer from 1 to 1000000, got 0"),
    case("app-replicas-negative", "app_deployment", app_args(replicas=-1),
         "replicas must be an integer from 1 to 1000000, got -1"),
    case("app-replicas-1e23", "app_deployment", app_args(replicas=1e23), "replicas must be an integer, got 1e+23"),
    case("app-replicas-10e30", "app_deployment", app_args(replicas=10 ** 30),
         "replicas must be an integer from 1 to 1000000, got %d" % 10 ** 30),
    # names
    case("app-name-uppercase", "app_deployment", app_args(name="LLM"), "app name 'LLM' is not a DNS-1123 label"),
    case("app-name-64", "app_deployment", app_args(name="a" * 64),
         "app name '%s' is 64 characters; the limit is 63" % ("a" * 64)),
    case("app-namespace-dot", "app_deployment", app_args(namespace="bad.proj"),
         "namespace 'bad.proj' is not a DNS-1123 label"),
    case("app-pool-name-invalid", "app_deployment", app_args(pool="Bad Pool"),
         "pool 'Bad Pool' is not a DNS-1123 label"),
    case("app-prefix-k8s-io", "app_deployment", app_args(label_prefix="k8s.io"),
         "label prefix 'k8s.io' is inside k8s.io"),
    case("app-prefix-nfd", "app_deployment", app_args(label_prefix="feature.node.kubernetes.io"),
         "label prefix 'feature.node.kubernetes.io' is inside kubernetes.io"),
    # pod templates
    case("template-not-mapping", "app_deployment", app_args(pod_templates=["spec: {}"]),
         "pod_templates[0] must be a mapping, got 'spec: {}'"),
    case("template-list-mapping", "app_deployment", app_args(pod_templates={"spec": {}}),
         "pod_templates must be a list, got {'spec': {}}"),
    case("template-spec-string", "app_deployment", app_args(pod_templates=[{"spec": "x"}]),
         "pod template spec must be a mapping, got 'x'"),
    case("template-metadata-list", "app_deployment", app_args(pod_templates=[{"metadata": []}]),
         "pod template metadata must be a mapping, got []"),
    case("template-containers-string", "app_deployment", app_args(pod_templates=template(containers="main")),
         "pod template spec.containers must be a non-empty list, got 'main'"),
    case("template-container-without-image", "app_deployment",
         app_args(pod_templates=template(containers=[{"name": "sidecar"}])),
         "pod template spec.containers[1].image must be a non-empty string, got None"),
    case("template-container-name", "app_deployment",
         app_args(pod_templates=template(containers=[{"name": "Side_Car", "image": "busybox"}])),
         "pod template spec.containers[1].name 'Side_Car' is not a DNS-1123 label"),
    case("template-sets-gpu-limit", "app_deployment",
         app_args(pod_templates=container(resources={"limits": {"nvidia.com/gpu": 2}})),
         "pod template spec.containers[0].resources: nvidia.com/gpu request 1 and limit 2 differ"),
    case("template-sets-gpus", "app_deployment",
         app_args(pod_templates=container(resources={"requests": {"nvidia.com/gpu": 2},
                                                     "limits": {"nvidia.com/gpu": 2}})),
         "pod_templates make each pod of bad-proj/bad-new-app request 2 GPU(s), but resources.gpu is 1"),
    case("template-adds-gpu-container", "app_deployment",
         app_args(pod_templates=template(containers=[{"name": "gpu-side", "image": "busybox", "resources": {
             "requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1}}}])),
         "pod_templates make each pod of bad-proj/bad-new-app request 2 GPU(s), but resources.gpu is 1"),
    case("template-adds-gpu-init-container", "app_deployment",
         app_args(pod_templates=template(initContainers=[{"name": "warm", "image": "busybox", "resources": {
             "limits": {"nvidia.com/gpu": 4}}}])),
         "pod_templates make each pod of bad-proj/bad-new-app request 4 GPU(s), but resources.gpu is 1"),
    case("template-job-restart-always",
         "app_deployment", app_args(kind="Job", pod_templates=template(restartPolicy="Always")),
         "pod template spec.restartPolicy 'Always' is not allowed for a Job (OnFailure or Never)"),
    case("template-deployment-restart-never", "app_deployment", app_args(pod_templates=template(restartPolicy="Never")),
         "pod template spec.restartPolicy 'Never' is not allowed for a Deployment (Always)"),
    case("template-cpu-garbage",
         "app_deployment", app_args(pod_templates=container(resources={"requests": {"cpu": "lots"}})),
         "pod template spec.containers[0].resources.requests.cpu: 'lots' is not a Kubernetes quantity"),
    case("template-memory-negative", "app_deployment",
         app_args(pod_templates=container(resources={"requests": {"memory": "-5Gi"}})),
         "pod template spec.containers[0].resources.requests.memory: '-5Gi' is negative"),
    case("template-resources-list", "app_deployment", app_args(pod_templates=container(resources=["cpu"])),
         "pod template spec.containers[0].resources must be a mapping, got ['cpu']"),
    case("template-command-string", "app_deployment", app_args(pod_templates=container(command="sleep 60")),
         "pod template spec.containers[0].command must be a list of strings, got 'sleep 60'"),
    case("template-label-number", "app_deployment", app_args(pod_templates=[{"metadata": {"labels": {"tier": 1}}}]),
         "pod template metadata.labels.tier must be a string, got 1"),
    case("template-label-value", "app_deployment",
         app_args(pod_templates=[{"metadata": {"labels": {"tier": "has space"}}}]),
         "pod template metadata.labels.tier 'has space' may contain only"),
    case("template-label-key", "app_deployment", app_args(pod_templates=[{"metadata": {"labels": {"Bad Key": "x"}}}]),
         "pod template metadata.labels key 'Bad Key' has an invalid name part 'Bad Key'"),
    case("template-node-selector-value",
         "app_deployment", app_args(pod_templates=template(nodeSelector={"zone": "eu west"})),
         "pod template spec.nodeSelector.zone 'eu west' may contain only"),
    case("template-tolerations-mapping", "app_deployment", app_args(pod_templates=template(tolerations={"key": "a"})),
         "pod template spec.tolerations must be a list of mappings, got {'key': 'a'}"),
    case("template-unknown-variable", "app_deployment", app_args(pod_templates=container(args=["{{NOPE}}"])),
         "unknown variable NOPE in '{{NOPE}}'"),
    case("template-unknown-field", "app_deployment", app_args(pod_templates=template(bogusField=1)),
         ".spec.template.spec.bogusField: field not declared in schema", server=True),
    case("app-env-name-digit", "app_deployment", app_args(env={"1MODE": "x"}),
         'env[0].name: Invalid value: "1MODE"', server=True),
    # rules across objects
    case("app-platform-not-a-gpu-type", "app_deployment", app_args(platform="A100 80G"),
         "platform (a GPU type of the pool) 'A100 80G' may contain only letters, digits"),
    case("app-platform-not-a-family", "app_deployment", app_args(pool=DROP, compute_pool="bad-cp",
                                                                 platform="NVIDIA:A100"),
         "platform 'NVIDIA:A100' may contain only letters, digits"),
    case("app-pool-missing", "app_deployment", app_args(pool="bad-ghost"), "pool bad-ghost does not exist"),
    case("app-compute-pool-missing", "app_deployment", app_args(pool=DROP, compute_pool="bad-ghost"),
         "compute pool bad-ghost in namespace bad-proj does not exist"),
    case("app-namespace-not-a-project", "app_deployment", app_args(namespace="bad-loose"),
         "namespace bad-loose is not a gpufabric project"),
    case("app-pool-shortfall", "app_deployment", app_args(pool="bad-pool", resources={"gpu": 8}),
         "needs 8 x NVIDIA-A100, 6 free on pool bad-pool (8 total, 2 allocated): short by 2"),
    case("app-quota-shortfall", "app_deployment", app_args(replicas=2, resources={"gpu": 4}),
         "needs 8 x NVIDIA-A100, 7 left of project bad-proj's quota (10 quota, 3 used): short by 1"),
    case("app-compute-pool-dedicated", "app_deployment", app_args(pool=DROP, compute_pool="bad-cp"),
         "compute pool bad-cp is dedicated and already hosts bad-proj/bad-capp"),
    case("app-platform-missing-on-pool", "app_deployment", app_args(platform="H100-80G"),
         "pool bad-big has no GPUs of GPU type H100-80G to place 1 x 1 GPUs on"),
    case("app-platform-missing-on-compute-pool", "app_deployment",
         app_args(name="bad-capp", pool=DROP, compute_pool="bad-cp", platform="NVIDIA-H100"),
         "compute pool bad-cp has no NVIDIA-H100 GPUs (families: NVIDIA-A100)"),
    case("app-kind-changed", "app_deployment", app_args(name="bad-app", pool="bad-pool", kind="Job"),
         "bad-proj/bad-app already exists as a Deployment"),
]


def fabric_cp(**changes):
    return compute_args(**dict({"name": "bad-f-cp", "namespace": "bad-f-proj"}, **changes))


FABRIC = [
    fabric("fabric-key-tenant", {"tenant": [{"name": "bad-f"}]}, "unknown top-level key tenant"),
    fabric("fabric-key-computepools", {"computepools": []}, "unknown top-level key computepools"),
    fabric("fabric-pools-mapping", {"pools": {"name": "bad-f"}},
           "pools must be a list of pool_label entries (module arguments), got dict"),
    fabric("fabric-tenants-string", {"tenants": "bad-f"},
           "tenants must be a list of tenant entries (module arguments), got str"),
    fabric("fabric-projects-mapping", {"projects": {"name": "bad-f"}},
           "projects must be a list of project entries (module arguments), got dict"),
    fabric("fabric-compute-pools-mapping", {"compute_pools": {"a": 1}},
           "compute_pools must be a list of compute_pool entries (module arguments), got dict"),
    fabric("fabric-apps-string", {"apps": "llm"},
           "apps must be a list of app_deployment entries (module arguments), got str"),
    fabric("fabric-entry-string", {"tenants": ["bad-f"]},
           "tenants[0]: expected a mapping of tenant options, got 'bad-f'"),
    fabric("fabric-tenant-unknown-option", {"tenants": [{"name": "bad-f", "quota": {}}]},
           "tenants[0] (bad-f): unknown option quota (did you mean gpu_quota?)"),
    fabric("fabric-member-unknown-option", {"projects": [project_args(members=[{"usr": "a", "role": "admin"}])]},
           "projects[0] (bad-new-project).members[0]: unknown option usr (did you mean user?)"),
    fabric("fabric-members-string", {"projects": [project_args(members="alice")]},
           "projects[0] (bad-new-project).members must be a list, got 'alice'"),
    fabric("fabric-node-unknown-key", {"pools": [pool_args(nodes={"bad-n3": {"gpu_typ": "A100"}})]},
           "pools[0] (bad-new-pool): pool bad-new-pool node bad-n3: unknown key gpu_typ"),
    fabric("fabric-document-unknown-key", {"pools": [{"definition": document(extra=1)}]},
           "pools[0] (bad-doc-pool): pool document: unknown key extra"),
    fabric("fabric-control-plane-unknown-key", {"compute_pools": [fabric_cp(control_plane={"nodecount": 1})]},
           "compute_pools[0] (bad-f-proj/bad-f-cp).control_plane: unknown option nodecount (did you mean node_count?)"),
    fabric("fabric-worker-unknown-key", {"compute_pools": [fabric_cp(worker_pools=[worker(min_nodes=1)])]},
           "compute_pools[0] (bad-f-proj/bad-f-cp).worker_pools[0]: unknown option min_nodes"),
    fabric("fabric-resources-unknown-key", {"apps": [app_args(resources={"gpus": 1})]},
           "apps[0] (bad-proj/bad-new-app).resources: unknown option gpus (did you mean gpu?)"),
    fabric("fabric-app-replicas-text", {"apps": [app_args(replicas="two")]},
           "apps[0] (bad-proj/bad-new-app).replicas must be an integer, got 'two'"),
    fabric("fabric-quota-1e23", {"tenants": [tenant_args(gpu_quota={A100: 1e23})]},
           "tenants[0] (bad-new-tenant): gpu_quota NVIDIA-A100: 1e+23 is not a non-negative integer"),
    fabric("fabric-entry-label-prefix", {"tenants": [tenant_args(label_prefix="x.io")]},
           "tenants[0] (bad-new-tenant): label_prefix is set once, at the top of the spec"),
    fabric("fabric-src-unread", {"pools": [{"src": "pools/x.yaml"}]},
           "pools[0]: src pools/x.yaml was not read"),
    fabric("fabric-prefix-kubernetes-io", {"label_prefix": "kubernetes.io"},
           "label prefix 'kubernetes.io' is inside kubernetes.io"),
    fabric("fabric-prefix-not-subdomain", {"label_prefix": "Bad_Prefix"},
           "label prefix 'Bad_Prefix' is not a DNS-1123 subdomain"),
    fabric("fabric-prefix-list", {"label_prefix": ["a"]}, "label prefix must be a non-empty string, got ['a']"),
    Case("fabric-prefix-option", "fabric", {"spec": {}, "label_prefix": "k8s.io"},
         ("label prefix 'k8s.io' is inside k8s.io",)),
    Case("fabric-spec-list", "fabric", {"spec": [tenant_args()]},
         ("spec must be a mapping, got [{'name': 'bad-new-tenant', 'gpu_quota': {'NVIDIA-A100': 4}}]",),
         unwanted=("is required",)),
    Case("fabric-prune-text", "fabric", {"spec": {"tenants": [tenant_args()]}, "prune": "maybe"},
         ("prune must be true or false, got 'maybe'",)),
    Case("fabric-module-unknown-option", "fabric", {"spec": {"tenants": [tenant_args()]}, "prun": True},
         ("unknown option prun (did you mean prune?)",)),
    # rules across entries and objects
    fabric("fabric-node-in-two-pools", {"pools": [pool_args(name="bad-f1"), pool_args(name="bad-f2")]},
           "node bad-n3 is listed by pools bad-f1, bad-f2; a node belongs to one pool"),
    fabric("fabric-tenant-twice", {"tenants": [tenant_args(), tenant_args()]},
           "tenant bad-new-tenant is declared 2 times (tenants[0] (bad-new-tenant), tenants[1] (bad-new-tenant))"),
    fabric("fabric-project-twice", {"projects": [project_args(), project_args()]},
           "project bad-new-project is declared 2 times"),
    fabric("fabric-pool-twice", {"pools": [pool_args(), pool_args(nodes={"bad-n2": {}})]},
           "pool bad-new-pool is declared 2 times"),
    fabric("fabric-compute-pool-in-two-namespaces",
           {"compute_pools": [fabric_cp(), fabric_cp(namespace="bad-f-other")]},
           "compute pool bad-f-cp is declared 2 times (compute_pools[0] (bad-f-proj/bad-f-cp), compute_pools[1] "
           "(bad-f-other/bad-f-cp))"),
    fabric("fabric-app-twice", {"apps": [app_args(), app_args(image="busybox:1.37")]},
           "app bad-proj/bad-new-app is declared 2 times"),
    fabric("fabric-project-tenant-missing", {"projects": [project_args(tenant="bad-f-ghost")]},
           "projects[0] (bad-new-project): tenant bad-f-ghost does not exist"),
    fabric("fabric-tenant-below-projects", {
        "tenants": [{"name": "bad-f-tenant", "gpu_quota": {A100: 4}}],
        "projects": [{"name": "bad-f1", "tenant": "bad-f-tenant", "gpu_quota": {A100: 3}},
                     {"name": "bad-f2", "tenant": "bad-f-tenant", "gpu_quota": {A100: 2}}]},
           "tenant bad-f-tenant: projects request 5 x NVIDIA-A100 (bad-f1 3, bad-f2 2) but the tenant quota is 4: "
           "over by 1"),
    fabric("fabric-compute-pool-not-in-a-project", {"compute_pools": [fabric_cp()]},
           "compute pool bad-f-proj/bad-f-cp: namespace bad-f-proj is not a gpufabric project"),
    fabric("fabric-app-on-undeclared-pool", {"projects": [{"name": "bad-f-proj", "gpu_quota": {A100: 4}}],
                                             "apps": [app_args(namespace="bad-f-proj", pool="bad-f-pool")]},
           "apps[0] (bad-f-proj/bad-new-app): pool bad-f-pool does not exist"),
    fabric("fabric-app-on-undeclared-compute-pool", {
        "projects": [{"name": "bad-f-proj", "gpu_quota": {A100: 4}}],
        "apps": [app_args(namespace="bad-f-proj", pool=DROP, compute_pool="bad-f-cp")]},
        "apps[0] (bad-f-proj/bad-new-app): compute pool bad-f-cp in namespace bad-f-proj does not exist"),
    fabric("fabric-node-missing", {"pools": [pool_args(nodes={"bad-f-ghost": {}})]},
           "pools[0] (bad-new-pool): node bad-f-ghost does not exist"),
    fabric("fabric-compute-shortfall", {"projects": [{"name": "bad-f-proj", "gpu_quota": {A100: 4}}],
                                        "compute_pools": [fabric_cp()]},
           "compute_pools[0] (bad-f-proj/bad-f-cp): worker pool gpu needs 8 x NVIDIA-A100 on >= 1 host in "
           "suite=bad-cp; 0 eligible on 0 hosts"),
    fabric("fabric-app-over-declared-quota", {
        "projects": [{"name": "bad-f-proj", "gpu_quota": {A100: 4}}],
        "pools": [{"name": "bad-f-pool", "nodes": {"bad-n3": {}}}],
        "apps": [app_args(namespace="bad-f-proj", pool="bad-f-pool", resources={"gpu": 5})]},
        "needs 5 x NVIDIA-A100, 4 left of project bad-f-proj's quota (4 quota, 0 used): short by 1"),
    fabric("fabric-app-over-declared-pool", {
        "projects": [{"name": "bad-f-proj", "gpu_quota": {A100: 16}}],
        "pools": [{"name": "bad-f-pool", "nodes": {"bad-n3": {}}}],
        "apps": [app_args(namespace="bad-f-proj", pool="bad-f-pool", resources={"gpu": 3}, replicas=3)]},
        "needs 9 x NVIDIA-A100, 8 free on pool bad-f-pool (8 total, 0 allocated): short by 1"),
]

CASES = TENANTS + PROJECTS + POOLS + COMPUTE_POOLS + APPS + FABRIC


@pytest.fixture(scope="module")
def world(kubeconfig, core_v1):
    """What the cases run against. Nodes bad-n1..3 (8 x A100 each) in labelled pools bad-pool (bad-n1) and bad-big
    (bad-n2, bad-n3); bad-c1 (no GPU) and bad-c2 (8 x A100) in resource group suite=bad-cp, both taken by the
    dedicated compute pool bad-cp. Tenant bad-tenant (16 x A100) holds project bad-proj (10), whose apps hold 3:
    bad-app (2 on bad-pool, its pod bound to bad-n1) and bad-capp (1 on bad-cp). Project bad-proj2 has no tenant."""
    for name in ("bad-n1", "bad-n2", "bad-n3"):
        create_node(core_v1, name, gpu_product=A100, gpus=8)
    create_node(core_v1, "bad-c1", gpu_product=None, gpus=0, labels={"palette.ai.rg/suite": "bad-cp"})
    create_node(core_v1, "bad-c2", gpu_product=A100, gpus=8, labels={"palette.ai.rg/suite": "bad-cp"})
    steps = [
        ("tenant", {"name": "bad-tenant", "gpu_quota": {A100: 16}}),
        ("project", {"name": "bad-proj", "tenant": "bad-tenant", "gpu_quota": {A100: 10}}),
        ("project", {"name": "bad-proj2", "gpu_quota": {A100: 8}}),
        ("pool_label", {"name": "bad-pool", "nodes": {"bad-n1": {"gpu_type": "A100-80G"}}}),
        ("pool_label", {"name": "bad-big", "nodes": {"bad-n2": {}, "bad-n3": {}}}),
        ("compute_pool", {"name": "bad-cp", "namespace": "bad-proj",
                          "control_plane": {"resource_groups": {"suite": "bad-cp"}},
                          "worker_resource_groups": {"suite": "bad-cp"}, "worker_pools": [worker()]}),
        ("app_deployment", {"name": "bad-app", "namespace": "bad-proj", "pool": "bad-pool", "image": "busybox:1.36",
                            "resources": {"gpu": 2}}),
        ("app_deployment", {"name": "bad-capp", "namespace": "bad-proj", "compute_pool": "bad-cp",
                            "image": "busybox:1.36", "resources": {"gpu": 1}}),
    ]
    for module, args in steps:
        result = run_module(module, args, kubeconfig)
        assert result.get("changed") and not result.get("failed"), (module, result.get("msg"))
    wait_bound(core_v1, "bad-proj", "gpufabric.io/app=bad-app", 1)
    return kubeconfig


def requests_sent(writes):
    """Every write-verb request since the mark, whatever the server answered, dry runs included."""
    writes.events()  # returns once the audit log shows a request made after the run
    return writes.audit.requests_since(writes.mark)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_naming_it_and_sends_no_write(case, world, writes):
    writes.start()
    result = run_module(case.module, case.args, world)
    assert result.get("failed"), result
    for name in case.names:
        assert name in result["msg"], result["msg"]
    for name in case.unwanted:
        assert name not in result["msg"], result["msg"]
    sent = requests_sent(writes)
    if case.server:
        assert [event for event in sent if not is_dry_run(event)] == [], writes.audit.describe(sent)
        assert sent, "the API server's dry run refused it"
    else:
        assert sent == [], writes.audit.describe(sent)


PLAY_DOCUMENTS = [
    ("gpuctl-document-yaml-list", "pool_label", "- kind: pool\n  version: v0.1\n",
     "pool document {path} must be a mapping (kind: pool, version: v0.1, pool, nodes), got a list"),
    ("gpuctl-document-empty", "pool_label", "",
     "pool document {path} is empty; expected kind: pool, version: v0.1"),
    ("fabric-spec-yaml-list", "fabric", "- tenants: []\n",
     "fabric spec {path} must be a mapping (label_prefix, tenants, projects, pools, compute_pools, apps), got a list"),
    ("fabric-spec-empty", "fabric", "", "fabric spec {path} is empty"),
]


@pytest.mark.parametrize("module, text, message", [d[1:] for d in PLAY_DOCUMENTS], ids=[d[0] for d in PLAY_DOCUMENTS])
def test_a_bad_document_read_on_the_controller_fails_the_task_and_sends_no_write(module, text, message, world, writes,
                                                                                 tmp_path):
    path = tmp_path / "document.yaml"
    path.write_text(text)
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - gpufabric.platform.%s:\n        src: %s\n        kubeconfig: %s\n        context: operator\n"
        % (module, path, world))
    writes.start()
    returncode, output, recap = run_playbook(playbook)
    assert returncode != 0 and recap.get("failed") == 1, output
    assert message.format(path=path) in output, output
    assert requests_sent(writes) == [], writes.describe()


def test_a_gpuctl_document_listing_its_nodes_in_a_list_is_refused_through_the_fabric_spec(world, writes, tmp_path):
    """A fabric spec whose pool entry's src is a document with nodes as a list, both read on the controller."""
    (tmp_path / "pool.yaml").write_text("kind: pool\nversion: v0.1\npool: {name: bad-f-doc}\nnodes: [bad-n3]\n")
    (tmp_path / "fabric.yml").write_text("pools:\n  - src: pool.yaml\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - gpufabric.platform.fabric:\n        src: %s\n        kubeconfig: %s\n        context: operator\n"
        % (tmp_path / "fabric.yml", world))
    writes.start()
    returncode, output, recap = run_playbook(playbook)
    assert returncode != 0 and recap.get("failed") == 1, output
    assert "pools[0] (bad-f-doc): pool document: nodes must be a mapping of node name to {gpu-type: TYPE}, got " \
        "['bad-n3']" in output, output
    assert requests_sent(writes) == [], writes.describe()
