"""Faults and concurrency against real control planes: an apiserver killed while a run sends, a whole control
plane restarted after a crash, a module's process tree killed while it labels hosts, a foreign writer on the same
Nodes, apps racing for the GPUs of one compute pool, and a status write that conflicts and is planned again.

Tests that kill processes start a control plane of their own (`plane`); the others use the control plane the integration tests share.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import WriteCounter
from tests.harness.ansible import MODULES, ansible_env, run_module
from tests.harness.audit import AuditLog, is_dry_run
from tests.harness.collection import REPO
from tests.harness.controlplane import BINARY, ControlPlane, alive
from tests.harness.nodes import create_node, force_delete_pods, wait_bound

pytestmark = pytest.mark.integration

PREFIX = "runwhere.ai"
GROUP, VERSION = "gpufabric.io", "v1alpha1"
A100 = "NVIDIA-A100"
POOL_KEY, TYPE_KEY = f"{PREFIX}/pool", f"{PREFIX}/gpu-type"
CP_KEY, MP_KEY = f"{PREFIX}/compute-pool", f"{PREFIX}/machine-pool"


# -- harness pieces --------------------------------------------------------------------------------------------

@pytest.fixture
def plane(tmp_path):
    """A control plane of this test's own, which it may kill; removed at the end."""
    started = ControlPlane(tmp_path / "state", "faults").up()
    yield started
    started.down(quiet=True)


@pytest.fixture
def shared_nodes(core_v1):
    """Nodes this test creates in the shared cluster (`shared_nodes(names, **node)`), with the Pools and
    namespaces it names in `shared_nodes.pools` / `.namespaces`; all deleted afterwards, so the tests that
    share the cluster do not count them."""
    created, pools, namespaces = [], [], []

    def make(names, **kwargs):
        create_nodes(core_v1, names, **kwargs)
        created.extend(names)
        return names

    make.pools, make.namespaces = pools, namespaces
    yield make
    custom = client.CustomObjectsApi(core_v1.api_client)
    for namespace in namespaces:
        force_delete_pods(core_v1, namespace)
        try:
            core_v1.delete_namespace(namespace)
        except ApiException as error:
            if error.status != 404:
                raise
    for pool in pools:
        try:
            custom.delete_cluster_custom_object(GROUP, VERSION, "pools", pool)
        except ApiException as error:
            if error.status != 404:
                raise
    with ThreadPoolExecutor(max_workers=8) as executor:
        list(executor.map(core_v1.delete_node, created))


def core_of(plane: ControlPlane) -> client.CoreV1Api:
    return client.CoreV1Api(plane.api_client())


def counter_of(plane: ControlPlane) -> WriteCounter:
    """Writes in this plane's audit log, counted as the `writes` fixture counts them."""
    return WriteCounter(AuditLog(plane.audit_log), core_of(plane))


def ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg")
    return result


def create_nodes(core: client.CoreV1Api, names, **kwargs) -> None:
    """Create Nodes side by side (each a create and a status patch)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda name: create_node(core, name, **kwargs), names))


def prefixed(labels: dict) -> dict:
    return {k: v for k, v in (labels or {}).items() if k.startswith(PREFIX + "/")}


def node_labels(core: client.CoreV1Api, names=None) -> dict:
    """{node: labels} of every Node (or of `names`), from one LIST."""
    wanted = set(names) if names is not None else None
    return {n.metadata.name: dict(n.metadata.labels or {}) for n in core.list_node().items
            if wanted is None or n.metadata.name in wanted}


class Started:
    """A module process started in a process group of its own (so the group can be killed); `result()` waits for it."""

    def __init__(self, module: str, args: dict, kubeconfig, context: str = "operator", diff: bool = False):
        payload = {"ANSIBLE_MODULE_ARGS": dict(args, kubeconfig=str(kubeconfig), context=context,
                                               _ansible_check_mode=False, _ansible_diff=diff)}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(payload, handle)
        self.args_file = handle.name
        self.module = module
        self.process = subprocess.Popen([sys.executable, "-m", MODULES + module, self.args_file],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=ansible_env(), cwd=str(REPO), start_new_session=True)

    def running(self) -> bool:
        return self.process.poll() is None

    def result(self, timeout: float = 300) -> dict:
        try:
            out, err = self.process.communicate(timeout=timeout)
        finally:
            if os.path.exists(self.args_file):
                os.unlink(self.args_file)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError(f"{self.module} printed no JSON (rc={self.process.returncode}):\n{out}\n{err}")


class AuditTail:
    """Reads an audit log from a mark onwards, a little at a time, and counts the events a predicate accepts."""

    def __init__(self, path: Path, mark: int | None = None):
        self.path, self.offset = path, AuditLog(path).mark() if mark is None else mark
        self.partial, self.matched = b"", []

    def poll(self, predicate) -> int:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if line.strip():
                event = json.loads(line)
                if predicate(event):
                    self.matched.append(event)
        return len(self.matched)

    def wait_for(self, predicate, count: int, while_true, timeout: float = 120) -> int:
        """Poll until `count` events matched or `while_true()` turns false (the run ended); the count seen."""
        deadline = time.monotonic() + timeout
        while self.poll(predicate) < count and while_true():
            assert time.monotonic() < deadline, f"{len(self.matched)} of {count} awaited audit events after " \
                                                f"{timeout:.0f} s"
            time.sleep(0.005)
        return len(self.matched)


def completed(event: dict, verb: str, resource: str, subresource: str | None = None, user: str = "operator",
              code: int | None = None) -> bool:
    ref = event.get("objectRef") or {}
    return (event.get("stage") == "ResponseComplete" and event.get("verb") == verb
            and ref.get("resource") == resource and ref.get("subresource") == subresource
            and (event.get("user") or {}).get("username") == user and not is_dry_run(event)
            and (code is None or (event.get("responseStatus") or {}).get("code") == code))


def node_patch(event: dict) -> bool:
    return completed(event, "patch", "nodes") and (event.get("responseStatus") or {}).get("code") == 200


def kill(plane: ControlPlane, *names: str) -> None:
    """SIGKILL some of the plane's processes and wait until they are gone."""
    pids = plane.pids()
    for name in names:
        os.kill(pids[name], signal.SIGKILL)
    for name in names:
        while alive(pids[name], BINARY[name]):
            time.sleep(0.02)


def descendants(pid: int) -> set:
    """The process and everything it started, from /proc."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


def process_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def pool_args(name: str, nodes, gpu_type: str = "A100-40G") -> dict:
    return {"name": name, "description": "faults suite", "nodes": {node: {"gpu_type": gpu_type} for node in nodes}}


# -- 1. the apiserver killed while a run sends ------------------------------------------------------------------

def test_apiserver_killed_mid_run_the_failure_names_what_was_written_and_a_rerun_converges(plane):
    core = core_of(plane)
    names = [f"rack-{i:03d}" for i in range(1, 241)]
    create_nodes(core, names, gpu_product=A100, gpus=8)
    kubeconfig = plane.kubeconfig
    args = pool_args("big-pool", names)

    tail = AuditTail(plane.audit_log)
    run = Started("pool_label", args, kubeconfig)
    seen = tail.wait_for(node_patch, 25, run.running)
    assert seen >= 25, f"the run ended after {seen} node patches, before the apiserver could be killed: " \
                       f"{run.result()}"
    kill(plane, "apiserver")
    result = run.result()

    assert result.get("failed"), result
    assert result["changed"] is True, result
    written, unconfirmed = result["written"], result["unconfirmed"]
    assert "Pool/big-pool" in written
    patched = [key.split("/", 1)[1] for key in written if key.startswith("Node/")]
    in_flight = [key.split("/", 1)[1] for key in unconfirmed]
    assert len(patched) + len(in_flight) >= 25 and len(patched) < len(names), (len(patched), result["msg"])
    assert "Already written: Pool/big-pool" in result["msg"] and "cannot reach the API server" in result["msg"]
    # the batch stops at the first failure: what was not sent yet is not sent to a server that is gone
    assert len(in_flight) <= 8 and f"Not sent: {len(names) - len(patched) - len(in_flight)} more" in result["msg"]

    plane.up()  # the same data: every write the failure names as done is there, and nothing it does not name
    core = core_of(plane)
    labels = node_labels(core, names)
    labelled = {name for name in names if labels[name].get(POOL_KEY) == "big-pool"}
    assert set(patched) <= labelled <= set(patched) | set(in_flight)

    writes = counter_of(plane).start()
    again = ok(run_module("pool_label", args, str(kubeconfig)))
    assert again["changed"] is True
    sent = writes.events()
    relabelled = {e["objectRef"]["name"] for e in sent if e["objectRef"]["resource"] == "nodes"}
    assert not relabelled & set(patched), "a rerun repeats no write that went through"
    labels = node_labels(core, names)
    assert {name: prefixed(labels[name]) for name in names} == {
        name: {POOL_KEY: "big-pool", TYPE_KEY: "A100-40G"} for name in names}
    status = client.CustomObjectsApi(plane.api_client()).get_cluster_custom_object(
        GROUP, VERSION, "pools", "big-pool")["status"]
    assert (status["nodeCount"], status["gpuTotal"]) == (len(names), 8 * len(names))

    writes.start()
    third = ok(run_module("pool_label", args, str(kubeconfig)))
    assert third["changed"] is False
    assert writes.count() == 0, writes.describe()


# -- 2. the control plane restarted after a crash ----------------------------------------------------------------

def test_control_plane_restarted_after_a_crash_keeps_what_the_modules_wrote(plane):
    core = core_of(plane)
    kubeconfig = str(plane.kubeconfig)
    create_nodes(core, ["crash-cp"], gpu_product=None, gpus=0, labels={"palette.ai.rg/rack": "r1"})
    create_nodes(core, [f"crash-gpu-{i}" for i in range(1, 5)], gpu_product=A100, gpus=4,
                 labels={"palette.ai.rg/rack": "r1"})
    create_nodes(core, [f"crash-pool-{i}" for i in range(1, 3)], gpu_product=A100, gpus=8)
    tasks = [
        ("tenant", {"name": "crash", "gpu_quota": {A100: 64}}),
        ("project", {"name": "crash", "tenant": "crash", "gpu_quota": {A100: 32},
                     "members": [{"user": "alice", "role": "admin"}]}),
        ("pool_label", pool_args("crash-pool", ["crash-pool-1", "crash-pool-2"])),
        ("compute_pool", {"name": "crash-cp", "namespace": "crash", "mode": "shared",
                          "control_plane": {"node_count": 1, "resource_groups": {"rack": "r1"}},
                          "worker_resource_groups": {"rack": "r1"},
                          "worker_pools": [{"name": "gpu-workers", "gpu": {"family": A100, "count": 16},
                                            "min_worker_nodes": 4}]}),
        ("app_deployment", {"name": "serve", "namespace": "crash", "compute_pool": "crash-cp",
                            "image": "busybox:1.36", "replicas": 2, "resources": {"gpu": 4}}),
        ("app_deployment", {"name": "train", "namespace": "crash", "pool": "crash-pool",
                            "image": "busybox:1.36", "replicas": 1, "resources": {"gpu": 8}}),
    ]
    for module, args in tasks:
        assert ok(run_module(module, args, kubeconfig))["changed"], module

    def snapshot(core, custom):
        """What the crash must keep: the statuses the run wrote and the Nodes' gpufabric labels."""
        return {
            "compute pool": custom.get_namespaced_custom_object(GROUP, VERSION, "crash", "computepools",
                                                                "crash-cp")["status"],
            "pool": custom.get_cluster_custom_object(GROUP, VERSION, "pools", "crash-pool")["status"],
            "tenant": custom.get_cluster_custom_object(GROUP, VERSION, "tenants", "crash")["status"],
            "labels": {name: prefixed(labels) for name, labels in node_labels(core).items()},
        }

    before = snapshot(core, client.CustomObjectsApi(plane.api_client()))
    assert before["compute pool"]["gpuAllocated"] == 8 and before["pool"]["gpuAllocated"] == 8
    old_kubeconfig = json.loads(plane.kubeconfig.read_text())
    old_ca = plane.ca_cert.read_bytes()
    old_pids = plane.pids()

    kill(plane, "apiserver", "etcd")
    plane.up()

    assert all(plane.pids()[name] != old_pids[name] for name in ("etcd", "apiserver"))
    new_kubeconfig = json.loads(plane.kubeconfig.read_text())
    assert new_kubeconfig["users"] == old_kubeconfig["users"] and plane.ca_cert.read_bytes() == old_ca
    # the operator's token taken before the crash, checked against the CA read before the crash
    operator = next(u["user"]["token"] for u in old_kubeconfig["users"] if u["name"] == "operator")
    with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as ca:
        ca.write(old_ca)
    try:
        request = urllib.request.Request(plane.server + "/apis/gpufabric.io/v1alpha1/pools/crash-pool",
                                         headers={"Authorization": "Bearer " + operator})
        with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca.name),
                                    timeout=10) as response:
            assert json.load(response)["status"] == before["pool"]
    finally:
        os.unlink(ca.name)

    core = core_of(plane)
    assert snapshot(core, client.CustomObjectsApi(plane.api_client())) == before
    apps = client.AppsV1Api(plane.api_client())
    assert {d.metadata.name for d in apps.list_namespaced_deployment("crash").items} == {"serve", "train"}
    assert core.read_namespaced_resource_quota("gpu-quota", "crash").spec.hard == {"requests.nvidia.com/gpu": "32"}

    writes = counter_of(plane).start()
    for module, args in tasks:
        assert ok(run_module(module, args, str(plane.kubeconfig)))["changed"] is False, module
    assert writes.count() == 0, writes.describe()


# -- 3. the whole process tree killed while a compute pool is labelled --------------------------------------------

def test_process_tree_killed_mid_compute_pool_rerun_converges_without_orphan_labels(plane, tmp_path):
    core = core_of(plane)
    rack = {"palette.ai.rg/rack": "r7"}
    create_nodes(core, ["cp-1", "cp-2"], gpu_product=None, gpus=0, labels=rack)
    gpu_nodes = [f"gpu-{i:03d}" for i in range(1, 101)]
    create_nodes(core, gpu_nodes, gpu_product=A100, gpus=4, labels=rack)
    kubeconfig = str(plane.kubeconfig)
    ok(run_module("project", {"name": "rack7", "gpu_quota": {A100: 400}}, kubeconfig))
    # The worker pools take every GPU host of the rack: a rerun must reuse the hosts the killed run labelled.
    args = {"name": "rack7", "namespace": "rack7", "mode": "shared",
            "control_plane": {"node_count": 1, "resource_groups": {"rack": "r7"}},
            "worker_resource_groups": {"rack": "r7"},
            "worker_pools": [{"name": "train", "gpu": {"family": A100, "count": 160}, "min_worker_nodes": 40},
                             {"name": "tune", "gpu": {"family": A100, "count": 160}, "min_worker_nodes": 40},
                             {"name": "serve", "gpu": {"family": A100, "count": 80}, "min_worker_nodes": 20}]}
    playbook = tmp_path / "compute-pool.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"gpufabric.platform.compute_pool": dict(args, kubeconfig=kubeconfig, context="operator")}]}]))
    env = ansible_env()
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    mark = AuditLog(plane.audit_log).mark()
    tail = AuditTail(plane.audit_log, mark)
    playbook_run = subprocess.Popen(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", str(playbook)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(REPO), start_new_session=True)
    try:
        tail.wait_for(lambda e: completed(e, "list", "nodes"), 1, lambda: playbook_run.poll() is None)
        tree = descendants(playbook_run.pid)  # the module runs: the tree is complete
        # ansible-playbook's worker calls setsid, so the tree spans two process groups at least
        groups = {os.getpgid(pid) for pid in tree if process_exists(pid)}
        assert len(tree) >= 3 and len(groups) >= 2, (tree, groups)
        seen = AuditTail(plane.audit_log, mark).wait_for(node_patch, 10, lambda: playbook_run.poll() is None)
        for group in groups:
            os.killpg(group, signal.SIGKILL)
        assert seen >= 10, f"the play ended after {seen} node patches: {playbook_run.communicate()[0]!r}"
    finally:
        playbook_run.communicate()
    deadline = time.monotonic() + 10
    while any(process_exists(pid) for pid in tree):
        assert time.monotonic() < deadline, [pid for pid in tree if process_exists(pid)]
        time.sleep(0.05)
    custom = client.CustomObjectsApi(plane.api_client())
    labelled = [name for name, labels in node_labels(core, gpu_nodes).items() if labels.get(CP_KEY) == "rack7"]
    assert 10 <= len(labelled) < len(gpu_nodes), "killed while it was labelling the hosts"

    # the hosts it labelled are not in any status yet (the status follows the labels): they are still this
    # compute pool's to take, and with every GPU host needed, the rerun must take them
    assert custom.get_namespaced_custom_object(GROUP, VERSION, "rack7", "computepools", "rack7").get("status") is None
    rerun = ok(run_module("compute_pool", args, kubeconfig))
    assert rerun["changed"] is True

    status = custom.get_namespaced_custom_object(GROUP, VERSION, "rack7", "computepools", "rack7")["status"]
    in_status = {host: pool["name"] for pool in status["allocatedMachinePools"] for host in pool["hosts"]}
    labels = node_labels(core)
    on_nodes = {name: (labels[name].get(CP_KEY), labels[name].get(MP_KEY)) for name in labels
                if labels[name].get(CP_KEY)}
    assert on_nodes == {host: ("rack7", pool) for host, pool in in_status.items()}, "no orphan label"
    assert set(gpu_nodes) <= set(in_status)
    assert status["status"] == "Running"
    assert [g["gpuCount"] for row in status["hardwareCapacity"] for g in row["gpu"]] == [400]

    writes = counter_of(plane).start()
    again = ok(run_module("compute_pool", args, kubeconfig))
    assert again["changed"] is False and again["plan"]["operations"] == []
    assert writes.count() == 0, writes.describe()


# -- 4. a foreign writer on the same Nodes --------------------------------------------------------------------------

def test_concurrent_foreign_writer_on_the_same_nodes_loses_nothing_and_keeps_everything(
        kubeconfig, core_v1, shared_nodes, writes):
    names = shared_nodes([f"shared-{i:03d}" for i in range(1, 121)], gpu_product=A100, gpus=8,
                         labels={"team.example.com/owner": "ml"})
    shared_nodes.pools.append("shared")
    deadline = time.monotonic() + 30
    while True:  # the node lifecycle controller adds the beta.kubernetes.io labels: a writer of its own
        initial = node_labels(core_v1, names)
        if all("beta.kubernetes.io/arch" in labels for labels in initial.values()):
            break
        assert time.monotonic() < deadline, "the controller manager did not label the new Nodes"
        time.sleep(0.1)
    stop = threading.Event()
    written = {name: {} for name in names}  # what the other writer last set, per node and key
    rounds, conflicts, errors = [0], [0], []

    def other_writer():
        number = 0
        while not stop.is_set():
            number += 1
            key = f"team.example.com/sweep-{number % 4}"
            for name in names:
                try:
                    if number % 2:  # a merge patch of its own key
                        core_v1.patch_node(name, {"metadata": {"labels": {key: str(number)}}})
                    else:  # read, modify, replace with the resourceVersion read (what a controller does)
                        while True:
                            node = core_v1.read_node(name)
                            node.metadata.labels[key] = str(number)
                            try:
                                core_v1.replace_node(name, node)
                                break
                            except ApiException as error:
                                if error.status != 409:
                                    raise
                                conflicts[0] += 1
                except Exception as error:  # pylint: disable=broad-except
                    errors.append(f"{name}: {error}")
                    stop.set()
                    return
                written[name][key] = str(number)
            rounds[0] = number

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        while rounds[0] < 1 and not stop.is_set():
            time.sleep(0.05)
        writes.start()
        first = ok(run_module("pool_label", pool_args("shared", names), kubeconfig))
        events = writes.events()
        kept = names[::2]
        second = ok(run_module("pool_label", pool_args("shared", kept, gpu_type="A100-80G"), kubeconfig))
        third = ok(run_module("pool_label", pool_args("shared", kept, gpu_type="A100-80G"), kubeconfig))
        done_at = rounds[0]
        while rounds[0] < done_at + 1 and not stop.is_set():
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join()
    assert errors == []
    assert first["changed"] and second["changed"] and third["changed"] is False
    ours = [index for index, e in enumerate(events) if completed(e, "patch", "nodes")]
    theirs = [index for index, e in enumerate(events) if completed(e, e["verb"], "nodes", user="admin")]
    assert len(ours) == len(names) and any(ours[0] < index < ours[-1] for index in theirs), \
        "the other writer wrote the same Nodes while the first run was labelling them"
    print(f"\nforeign writer: {rounds[0]} sweeps of {len(names)} nodes, {conflicts[0]} replace conflicts retried")

    labels = node_labels(core_v1, names)
    for name in names:
        foreign = {k: v for k, v in labels[name].items() if not k.startswith(PREFIX + "/")}
        assert foreign == dict({k: v for k, v in initial[name].items() if not k.startswith(PREFIX + "/")},
                               **written[name]), name
        assert prefixed(labels[name]) == ({POOL_KEY: "shared", TYPE_KEY: "A100-80G"} if name in kept else {}), name


# -- 5. two app deployments racing for one compute pool's GPUs, 20 rounds ----------------------------------------

RACE = "faults-race"
SIZES = [(3, 3), (5, 2), (3, 4), (9, 1), (11, 1)]  # (replicas, GPUs per pod): each more than half of 16


@pytest.fixture
def race_pool(kubeconfig, shared_nodes):
    """A shared compute pool of 16 A100 GPUs (4 hosts of 4) and a GPU-less control-plane host, in project
    faults-race."""
    group = {"palette.ai.rg/suite": RACE}
    shared_nodes.namespaces.append(RACE)
    shared_nodes([f"{RACE}-cp"], gpu_product=None, gpus=0, labels=group)
    shared_nodes([f"{RACE}-gpu-{i}" for i in range(1, 5)], gpu_product=A100, gpus=4, labels=group)
    ok(run_module("project", {"name": RACE, "gpu_quota": {A100: 64}}, kubeconfig))
    ok(run_module("compute_pool", {"name": RACE, "namespace": RACE, "mode": "shared",
                                   "control_plane": {"node_count": 1, "resource_groups": {"suite": RACE}},
                                   "worker_resource_groups": {"suite": RACE},
                                   "worker_pools": [{"name": "gpu-workers", "gpu": {"family": A100, "count": 16},
                                                     "min_worker_nodes": 4}]}, kubeconfig))
    return RACE


def race_app(name: str, size: tuple, state: str = "present") -> dict:
    replicas, gpus = size
    return {"name": name, "namespace": RACE, "compute_pool": RACE, "image": "busybox:1.36", "replicas": replicas,
            "resources": {"gpu": gpus}, "state": state}


class Sampler:
    """Reads the compute pool's recorded allocation and the GPUs of pods bound on its nodes, again and again,
    while a round runs: the largest of each seen."""

    def __init__(self, custom, core, nodes):
        self.custom, self.core, self.nodes = custom, core, set(nodes)
        self.recorded = self.refs = self.bound = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            status = self.custom.get_namespaced_custom_object(GROUP, VERSION, RACE, "computepools", RACE)["status"]
            self.recorded = max(self.recorded, status.get("gpuAllocated") or 0)
            self.refs = max(self.refs, sum(ref.get("gpuCount") or 0 for ref in status.get("aiWorkloadRefs") or ()))
            self.bound = max(self.bound, bound_gpus(self.core, self.nodes))
            self.samples += 1
            time.sleep(0.02)


def bound_gpus(core, nodes) -> int:
    total = 0
    for pod in core.list_pod_for_all_namespaces().items:
        if pod.spec.node_name in nodes and not pod.metadata.deletion_timestamp:
            for container in pod.spec.containers:
                total += int(((container.resources.requests or {}) if container.resources else {})
                             .get("nvidia.com/gpu", 0))
    return total


def remove_app(kubeconfig, core, name: str) -> None:
    ok(run_module("app_deployment", {"name": name, "namespace": RACE, "state": "absent"}, kubeconfig))
    apps = client.AppsV1Api(core.api_client)
    deadline = time.monotonic() + 60
    while True:  # no kubelet: pods the garbage collector deletes would stay Terminating, their GPUs held
        # ReplicaSets first: once none is left no pod can be made, so the pods listed after are all there are
        sets = apps.list_namespaced_replica_set(RACE, label_selector=f"gpufabric.io/app={name}").items
        force_delete_pods(core, RACE, f"gpufabric.io/app={name}")
        left = core.list_namespaced_pod(RACE, label_selector=f"gpufabric.io/app={name}").items
        if not left and not sets:
            return
        assert time.monotonic() < deadline, f"pods of {name} still there: {[p.metadata.name for p in left]}"
        time.sleep(0.1)


def test_twenty_rounds_of_two_apps_racing_for_one_compute_pool_never_overcommit(
        kubeconfig, control_plane, core_v1, custom_objects, race_pool):
    capacity = 16
    nodes = [f"{RACE}-gpu-{i}" for i in range(1, 5)]
    apps = client.AppsV1Api(core_v1.api_client)
    figures = {"rounds": 0, "conflicts": 0, "rounds with a conflict": 0, "samples": 0}
    for number in range(20):
        sizes = {f"race-{number}-a": SIZES[number % len(SIZES)], f"race-{number}-b": SIZES[(number + 2) % len(SIZES)]}
        counts = {name: r * g for name, (r, g) in sizes.items()}
        assert all(count > capacity // 2 for count in counts.values())
        tail = AuditTail(control_plane.audit_log)
        with Sampler(custom_objects, core_v1, nodes) as sampler:
            started = [Started("app_deployment", race_app(name, size), kubeconfig) for name, size in sizes.items()]
            results = dict(zip(sizes, (run.result() for run in started)))
            winners = [name for name, result in results.items() if not result.get("failed")]
            assert len(winners) == 1, {name: result.get("msg") for name, result in results.items()}
            winner = winners[0]
            wait_bound(core_v1, RACE, f"gpufabric.io/app={winner}", sizes[winner][0])
            sampler_bound = bound_gpus(core_v1, nodes)
        (loser,) = [name for name in sizes if name != winner]
        won, lost = counts[winner], counts[loser]
        message = results[loser]["msg"]
        assert results[loser]["changed"] is False, results[loser]
        assert (f"needs {lost} x {A100}, {capacity - won} free on compute pool {RACE} ({capacity} total, {won} "
                f"allocated): short by {lost - (capacity - won)}") in message, message
        with pytest.raises(ApiException) as missing:
            apps.read_namespaced_deployment(loser, RACE)
        assert missing.value.status == 404
        status = custom_objects.get_namespaced_custom_object(GROUP, VERSION, RACE, "computepools", RACE)["status"]
        assert status["gpuAllocated"] == won
        assert [(ref["name"], ref["gpuCount"]) for ref in status["aiWorkloadRefs"]] == [(winner, won)]
        assert sampler_bound == won
        assert max(sampler.recorded, sampler.refs, sampler.bound) <= capacity, vars(sampler)
        conflicts = tail.poll(lambda e: completed(e, "patch", "computepools", "status", code=409))
        figures["rounds"] += 1
        figures["conflicts"] += conflicts
        figures["rounds with a conflict"] += bool(conflicts)
        figures["samples"] += sampler.samples

        remove_app(kubeconfig, core_v1, winner)
        status = custom_objects.get_namespaced_custom_object(GROUP, VERSION, RACE, "computepools", RACE)["status"]
        assert status["gpuAllocated"] == 0 and status["aiWorkloadRefs"] == []
    print(f"\nfaults race figures: {figures}")


# -- a status write that conflicts is planned again ---------------------------------------------------------------

def record_concurrent_app(custom, pool: str, name: str, namespace: str, gpus: int) -> None:
    """What a concurrent app_deployment writes first on a pool: its record in the pool's status (the ledger)."""
    status = custom.get_cluster_custom_object(GROUP, VERSION, "pools", pool).get("status") or {}
    refs = list(status.get("aiWorkloadRefs") or []) + [
        {"name": name, "namespace": namespace, "family": A100, "gpuCount": gpus, "architecture": "AMD64"}]
    custom.patch_cluster_custom_object_status(GROUP, VERSION, "pools", pool, {"status": {
        "aiWorkloadRefs": refs, "gpuAllocated": sum(ref["gpuCount"] for ref in refs)}})


def test_conflicting_status_write_is_planned_again_and_both_writers_are_kept(kubeconfig, control_plane,
                                                                             custom_objects, shared_nodes, writes):
    names = shared_nodes([f"replan-{i:03d}" for i in range(1, 161)], gpu_product=A100, gpus=8)
    shared_nodes.pools.append("replan")
    ok(run_module("pool_label", pool_args("replan", names[:2]), kubeconfig))
    before = custom_objects.get_cluster_custom_object(GROUP, VERSION, "pools", "replan")["status"]
    assert (before["nodeCount"], before["gpuAllocated"]) == (2, 0)

    writes.start()
    tail = AuditTail(control_plane.audit_log)
    run = Started("pool_label", pool_args("replan", names), kubeconfig, diff=True)
    assert tail.wait_for(node_patch, 1, run.running) >= 1, run.result()
    # between the run's read of the Pool and its status write, another writer records an app on the pool
    record_concurrent_app(custom_objects, "replan", "other-app", "elsewhere", 24)
    result = run.result()

    assert not result.get("failed") and result["changed"], result.get("msg")
    codes = [e["responseStatus"]["code"] for e in writes.events() if completed(e, "patch", "pools", "status")]
    assert codes == [409, 200], codes  # refused once, then written from a fresh read
    after = custom_objects.get_cluster_custom_object(GROUP, VERSION, "pools", "replan")["status"]
    assert after["aiWorkloadRefs"] == [{"name": "other-app", "namespace": "elsewhere", "family": A100,
                                        "gpuCount": 24, "architecture": "AMD64"}]
    assert (after["nodeCount"], after["gpuTotal"], after["gpuAllocated"]) == (160, 1280, 24)
    # the diff is the whole run's: the node labels the first attempt wrote, and the status the second wrote
    written = ["Pool/replan", "Pool/replan/status"] + ["Node/" + name for name in names[2:]]
    assert sorted(result["diff"]["after"]) == sorted(written)
    assert result["changed_nodes"] == sorted(names[2:])

    writes.start()
    assert ok(run_module("pool_label", pool_args("replan", names), kubeconfig))["changed"] is False
    assert writes.count() == 0, writes.describe()


def test_run_refused_on_its_second_plan_names_what_its_first_attempt_wrote(
        kubeconfig, custom_objects, core_v1, shared_nodes, writes):
    names = shared_nodes([f"late-{i:03d}" for i in range(1, 161)], gpu_product=A100, gpus=1)
    shared_nodes.pools.append("late")
    shared_nodes.namespaces.append("late")
    spec = {"projects": [{"name": "late", "gpu_quota": {A100: 64}}],
            "pools": [pool_args("late", names)],
            "apps": [{"name": "late-app", "namespace": "late", "pool": "late", "image": "busybox:1.36",
                      "replicas": 16, "resources": {"gpu": 1}}]}

    writes.start()
    run = Started("fabric", {"spec": spec}, kubeconfig)
    tail = AuditTail(writes.audit.path, writes.mark)
    assert tail.wait_for(node_patch, 1, run.running) >= 1, run.result()
    # the Pool exists (it is applied before its nodes are labelled); a concurrent app takes most of its GPUs
    record_concurrent_app(custom_objects, "late", "early-app", "elsewhere", 150)
    result = run.result()

    assert result.get("failed") and result["changed"] is True, result
    message = result["msg"]
    assert "needs 16 x NVIDIA-A100, 10 free on pool late (160 total, 150 allocated): short by 6" in message, message
    assert "Written before a concurrent change made this run read and plan again" in message
    assert "Namespace/late" in result["written"] and "Pool/late" in result["written"]
    labelled = {key.split("/", 1)[1] for key in result["written"] if key.startswith("Node/")}
    assert labelled == set(names)
    assert all(prefixed(labels) == {POOL_KEY: "late", TYPE_KEY: "A100-40G"}
               for labels in node_labels(core_v1, names).values())
    with pytest.raises(ApiException) as missing:
        client.AppsV1Api(core_v1.api_client).read_namespaced_deployment("late-app", "late")
    assert missing.value.status == 404
    refs = custom_objects.get_cluster_custom_object(GROUP, VERSION, "pools", "late")["status"]["aiWorkloadRefs"]
    assert [ref["name"] for ref in refs] == ["early-app"]

    writes.start()
    again = run_module("fabric", {"spec": spec}, kubeconfig)
    assert again.get("failed") and again["changed"] is False and not again.get("written"), again
    assert "short by 6" in again["msg"]
    assert writes.count() == 0, writes.describe()


def test_two_compute_pools_racing_for_the_same_free_hosts_never_share_one(kubeconfig, core_v1, shared_nodes):
    """Both plans pick the same hosts (best fit, ties by name); the claims are guarded by each Node's
    resourceVersion, so one run wins each host and the other plans again and takes the others."""
    suite = "race-hosts"
    group = {"palette.ai.rg/suite": suite}
    shared_nodes([f"{suite}-cpu-{i}" for i in (1, 2)], gpu_product=None, gpus=0, labels=group)
    shared_nodes([f"{suite}-gpu-{i}" for i in range(1, 5)], gpu_product=A100, gpus=4, labels=group)
    shared_nodes.namespaces.append(suite)
    ok(run_module("project", {"name": suite, "gpu_quota": {A100: 16}}, kubeconfig))

    def args(name):
        return {"name": name, "namespace": suite, "mode": "shared",
                "control_plane": {"resource_groups": {"suite": suite}}, "worker_resource_groups": {"suite": suite},
                "worker_pools": [{"name": "gpu", "gpu": {"family": A100, "count": 8}, "min_worker_nodes": 2}]}

    with ThreadPoolExecutor(max_workers=2) as executor:
        results = list(executor.map(lambda name: run_module("compute_pool", args(name), kubeconfig),
                                    ("race-a", "race-b")))
    for result in results:
        assert not result.get("failed"), result.get("msg")
    custom = client.CustomObjectsApi(core_v1.api_client)
    held = {}
    for name in ("race-a", "race-b"):
        status = custom.get_namespaced_custom_object(GROUP, VERSION, suite, "computepools", name)["status"]
        held[name] = sorted(host for pool in status["allocatedMachinePools"] for host in pool["hosts"])
    assert not set(held["race-a"]) & set(held["race-b"]), held
    labels = node_labels(core_v1, [f"{suite}-cpu-{i}" for i in (1, 2)] + [f"{suite}-gpu-{i}" for i in range(1, 5)])
    for name, hosts in held.items():
        assert all(labels[host].get(CP_KEY) == name for host in hosts), (name, labels)
    for name in ("race-a", "race-b"):
        ok(run_module("compute_pool", {"name": name, "namespace": suite, "state": "absent"}, kubeconfig))
