"""Edge hosts: bare-metal machines linked to the appliance's hub as EdgeHost objects, each with an identity that may
update its own EdgeHost and nothing else; the Nodes they become in a compute pool's cluster; and the Ansible groups
compute pools make of them.

An EdgeHost's spec is what the host registered with (address, machine id, architecture, CPUs, memory, GPUs by
family and model); its status is what the host last reported with its own identity, its health and when it was
last seen. A name is held by one machine: registering a name that another address or machine id holds is refused.
"""

from __future__ import annotations

from fractions import Fraction

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import (
    CONTROL_PLANE_POOL, allocation_from_status)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import kind_of
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    API_VERSION, MANAGED_BY, dns_subdomain_errors, label_value_errors, normalise_architecture)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import format_quantity
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    STATUS, Write, apply_write, contains, delete_write, drop_empty_strings, status_write, with_fingerprint)

KIND = "EdgeHost"
NAMESPACE = "gpufabric-edge"  # the edge identities' ServiceAccounts and token Secrets, on the hub
EDGE_LABEL = "gpufabric.io/edge-host"  # on every object that belongs to one edge host's registration
RBAC_API = "rbac.authorization.k8s.io/v1"
TOKEN_TYPE = "kubernetes.io/service-account-token"
SERVICE_ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"
HEALTHY, UNHEALTHY = "Healthy", "Unhealthy"
DEFAULT_HEARTBEAT = 300  # seconds: a report that changes nothing refreshes lastSeen once it is this old
# Node labels GPU feature discovery sets on a GPU node, which the allocator and the scheduler read.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
# A kubelet registers its Node; here the platform does (the appliance runs no kubelet), so it says so.
REGISTERED_REASON = "GpufabricRegistered"


def identity_name(host):
    """The ServiceAccount, its token Secret prefix and the ClusterRole(Binding) of one edge host."""
    return "edge-%s" % host


def token_name(host):
    return "edge-%s-token" % host


def role_name(host):
    return "gpufabric-edge-%s" % host


def user_of(host):
    """The user name the API server sees for the edge host's identity."""
    return "system:serviceaccount:%s:%s" % (NAMESPACE, identity_name(host))


def _labels(host):
    labels = dict(MANAGED_BY)
    labels[EDGE_LABEL] = host
    return labels


def _meta(name, namespace=None, labels=None, annotations=None):
    meta = {"name": name, "labels": dict(labels or MANAGED_BY)}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


# -- facts as an EdgeHost holds them ----------------------------------------------------------------------------------

def memory_quantity(memory_mb):
    """MB of memory as Ansible reports it (MiB) -> a Kubernetes quantity (23540Mi, 32Gi)."""
    return format_quantity(Fraction(int(memory_mb or 0)) * 1024 * 1024, "binary")


def _gpu_rows(gpus):
    rows = []
    for entry in sorted(gpus or (), key=lambda e: (str(e.get("model") or e.get("family")), e.get("memory_mib") or 0)):
        row = {"family": kind_of(entry.get("model") or entry.get("family"), entry.get("memory_mib")).family,
               "model": str(entry.get("model") or entry.get("family")), "count": int(entry.get("count") or 0)}
        if entry.get("memory_mib"):
            row["memoryMiB"] = int(entry["memory_mib"])
        rows.append(row)
    return rows


def facts_body(facts):
    """The facts an EdgeHost's spec and status share, from the preflight's host facts."""
    gpus = _gpu_rows(facts.get("gpus"))
    return {"architecture": normalise_architecture(facts.get("architecture")) or str(facts.get("architecture")),
            "cpus": int(facts.get("cpus") or 0),
            "memory": memory_quantity(facts.get("memory_mb")),
            "gpus": gpus,
            "gpuCount": sum(row["count"] for row in gpus)}


def registration_errors(name, facts):
    """What makes a host unable to register under `name`: the name, and the facts an EdgeHost must carry."""
    errors = ["edge host %s: %s" % (name, error) for error in dns_subdomain_errors(name, "name")]
    errors += ["edge host %s: name: %s" % (name, error) for error in label_value_errors(name, "label value")]
    if not facts.get("address"):
        errors.append("edge host %s: no address to register (the host's default IPv4 address)" % name)
    if normalise_architecture(facts.get("architecture")) is None:
        errors.append("edge host %s: architecture %s is not AMD64 or ARM64" % (name, facts.get("architecture")))
    return errors


def render_edgehost(name, facts):
    """The EdgeHost a host registers with: its address, machine id and facts."""
    spec = {"address": facts["address"]}
    if facts.get("machine_id"):
        spec["machineID"] = facts["machine_id"]
    spec.update(facts_body(facts))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": _meta(name, labels=_labels(name)), "spec": spec}


def held_by_another(name, facts, live):
    """The error when EdgeHost `name` is registered by another machine (another address or machine id), else None.
    A name is never moved silently: the inventory may have two machines under one name by mistake."""
    if live is None:
        return None
    spec = live.get("spec") or {}
    address, machine = spec.get("address"), spec.get("machineID")
    other_address = bool(address) and address != facts.get("address")
    other_machine = bool(machine) and bool(facts.get("machine_id")) and machine != facts.get("machine_id")
    if not (other_address or other_machine):
        return None
    return ("edge host %s is already registered by another host: address %s, machine id %s; this host is %s, "
            "machine id %s. Give this host another inventory name, or deregister %s first (appliance_state: absent "
            "on the host that holds it)" % (name, address or "unknown", machine or "unknown",
                                            facts.get("address") or "unknown", facts.get("machine_id") or "unknown",
                                            name))


# -- the identity -----------------------------------------------------------------------------------------------------

def identity_objects(name):
    """The edge host's identity on the hub, in the order they are applied: its namespace (shared by every edge
    host), ServiceAccount, the token Secret the controller manager fills in, a ClusterRole that allows reading its
    own EdgeHost and updating its status (resourceNames: this host only), and the binding."""
    account = identity_name(name)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(NAMESPACE)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(account, NAMESPACE, _labels(name))},
        {"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
         "metadata": _meta(token_name(name), NAMESPACE, _labels(name), {SERVICE_ACCOUNT_ANNOTATION: account})},
        {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": _meta(role_name(name), labels=_labels(name)),
         "rules": [{"apiGroups": ["gpufabric.io"], "resources": ["edgehosts"], "resourceNames": [name],
                    "verbs": ["get"]},
                   {"apiGroups": ["gpufabric.io"], "resources": ["edgehosts/status"], "resourceNames": [name],
                    "verbs": ["get", "update", "patch"]}]},
        {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": _meta(role_name(name), labels=_labels(name)),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name(name)},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]},
    ]


def registration_keys(name):
    """(kind, namespace, name) of everything one edge host's registration holds, the EdgeHost first."""
    return [(KIND, "", name)] + [(obj["kind"], (obj["metadata"].get("namespace") or ""), obj["metadata"]["name"])
                                 for obj in identity_objects(name)[1:]]


def owned(obj, name):
    """Whether the object belongs to this edge host's registration (the platform made it for this host)."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(EDGE_LABEL) == name and all(labels.get(k) == v for k, v in MANAGED_BY.items())


# -- status -----------------------------------------------------------------------------------------------------------

def _epoch(stamp):
    """Seconds since the epoch of an RFC 3339 UTC stamp (2026-01-15T10:30:00Z); None when it is not one."""
    import calendar
    import time

    try:
        return calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def health_of(spec, reported):
    """(health, message): Healthy unless the host reports fewer GPUs, CPUs or less memory than it registered
    with (a GPU fell off the bus, a DIMM failed)."""
    short = []
    if reported["gpuCount"] < int(spec.get("gpuCount") or 0):
        short.append("%d of the %d GPUs it registered with" % (reported["gpuCount"], spec["gpuCount"]))
    if reported["cpus"] < int(spec.get("cpus") or 0):
        short.append("%d of the %d CPUs" % (reported["cpus"], spec["cpus"]))
    if not short:
        return HEALTHY, ""
    return UNHEALTHY, "reports " + "; ".join(short)


def report_status(spec, facts, live_status, now, heartbeat=DEFAULT_HEARTBEAT):
    """The status a host's report writes: its facts, health and lastSeen. When the facts and health are as the live
    status has them and lastSeen is younger than `heartbeat` seconds, the live status is returned as it is (the
    report writes nothing)."""
    reported = facts_body(facts)
    health, message = health_of(spec or {}, reported)
    status = dict(reported, health=health)
    if message:
        status["message"] = message
    live = dict(live_status or {})
    seen = live.pop("lastSeen", None)
    then, current = _epoch(seen), _epoch(now)
    if live == status and then is not None and current is not None and 0 <= current - then < heartbeat:
        status["lastSeen"] = seen
    else:
        status["lastSeen"] = now
    return status


# -- deregistration ---------------------------------------------------------------------------------------------------

def allocations_of(name, compute_pools):
    """["<namespace>/<compute pool> (<machine pool>)"] of the compute pools whose status holds the host."""
    found = []
    for cp in compute_pools:
        for pool in allocation_from_status(cp.get("status")):
            if name in pool.host_names:
                found.append("%s/%s (%s)" % (cp["metadata"].get("namespace"), cp["metadata"]["name"], pool.name))
    return sorted(found)


# -- the Node a host becomes in a compute pool's cluster ---------------------------------------------------------------

def edgehost_facts(edgehost):
    """The facts a Node is made of: the EdgeHost's status as last reported, else its spec."""
    status, spec = (edgehost or {}).get("status") or {}, (edgehost or {}).get("spec") or {}
    source = status if status.get("architecture") else spec
    return {"address": spec.get("address") or "", "architecture": source.get("architecture"),
            "cpus": source.get("cpus") or 0, "memory": source.get("memory") or "0",
            "gpus": list(source.get("gpus") or ())}


def product_label(model):
    """nvidia-smi's model name as GPU feature discovery writes it in nvidia.com/gpu.product: spaces become '-'
    ('NVIDIA A100-SXM4-80GB' -> 'NVIDIA-A100-SXM4-80GB'), so the value is a valid label value."""
    return "-".join(str(model).split())


def render_node(name, facts, labels=None, control_plane=False, schedule_workloads=True):
    """The Node a kubelet on the host would register: architecture and OS labels, GPU feature discovery's product,
    count and memory labels, the given labels (the compute pool's, under the platform's prefix), the control-plane
    role (tainted NoSchedule unless workloads may run there). facts: edgehost_facts."""
    arch = (normalise_architecture(facts.get("architecture")) or "AMD64").lower()
    node_labels = {"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": name}
    gpus = list(facts.get("gpus") or ())
    if gpus:
        main = max(gpus, key=lambda row: (int(row.get("count") or 0), str(row.get("model"))))
        node_labels[GPU_PRODUCT_LABEL] = product_label(main.get("model") or main.get("family"))
        node_labels[GPU_COUNT_LABEL] = str(sum(int(row.get("count") or 0) for row in gpus))
        if main.get("memoryMiB"):
            node_labels[GPU_MEMORY_LABEL] = str(main["memoryMiB"])
    if control_plane:
        node_labels[CONTROL_PLANE_ROLE] = "true"  # "" would be dropped: the platform never sends empty strings
    node_labels.update(labels or {})
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": node_labels}}
    if control_plane and not schedule_workloads:
        node["spec"] = {"taints": [{"key": CONTROL_PLANE_ROLE, "effect": "NoSchedule"}]}
    return node


def node_status(name, facts, live, now):
    """The Node's status: capacity and allocatable (CPUs, memory, pods, nvidia.com/gpu), its addresses and the
    Ready condition, whose times stay as they are while it stays Ready (a rerun writes nothing)."""
    resources = {"cpu": str(int(facts.get("cpus") or 0)), "memory": str(facts.get("memory") or "0"), "pods": "110"}
    gpus = sum(int(row.get("count") or 0) for row in facts.get("gpus") or ())
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    since = now
    for condition in ((live or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready" and condition.get("status") == "True" \
                and condition.get("reason") == REGISTERED_REASON:
            since = condition.get("lastTransitionTime") or now
    addresses = [{"type": "Hostname", "address": name}]
    if facts.get("address"):
        addresses.insert(0, {"type": "InternalIP", "address": facts["address"]})
    return {"capacity": resources, "allocatable": dict(resources), "addresses": addresses,
            "conditions": [{"type": "Ready", "status": "True", "reason": REGISTERED_REASON,
                            "message": "registered by gpufabric from its EdgeHost", "lastHeartbeatTime": since,
                            "lastTransitionTime": since}]}


# -- compute pools as Ansible groups ---------------------------------------------------------------------------------

def group_name(*parts):
    """An Ansible group name: letters, digits and underscores (cp_vision_cluster_control_plane)."""
    text = "_".join(str(part) for part in parts if part)
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def compute_pool_inventory(compute_pools, edgehosts, names=None):
    """Groups and host variables for the compute pools whose hosts are EdgeHosts.

    Returns {"groups": {group: [hosts]}, "hosts": {host: vars}, "skipped": [messages]}: per compute pool
    cp_<name> (every host), cp_<name>_control_plane and cp_<name>_<worker pool>, and across compute pools
    gpufabric_compute_pools and gpufabric_control_planes. A host's variables: ansible_host (the EdgeHost's
    address), gpufabric_edgehost (its facts) and gpufabric_compute_pool (name, namespace, spoke, machine pool,
    node type, worker pool, control-plane settings). names: only these compute pools."""
    by_name = dict((obj["metadata"]["name"], obj) for obj in edgehosts)
    groups, hosts, skipped = {}, {}, []
    ordered = sorted(compute_pools, key=lambda cp: (cp["metadata"].get("namespace") or "", cp["metadata"]["name"]))
    for cp in ordered:
        metadata, spec = cp["metadata"], cp.get("spec") or {}
        name = metadata["name"]
        if names and name not in names:
            continue
        allocation = allocation_from_status(cp.get("status"))
        members = [entry.host for pool in allocation for entry in pool.hosts]
        missing = sorted(host for host in members if host not in by_name)
        if not members or missing:
            if members:
                skipped.append("compute pool %s/%s: hosts %s are not EdgeHosts; only compute pools over EdgeHosts "
                               "become clusters here" % (metadata.get("namespace"), name, ", ".join(missing)))
            continue
        control_plane = spec.get("controlPlane") or {}
        everyone = groups.setdefault(group_name("cp", name), [])
        for pool in allocation:
            group = group_name("cp", name, "control_plane" if pool.name == CONTROL_PLANE_POOL else pool.name)
            for entry in pool.hosts:
                groups.setdefault(group, []).append(entry.host)
                everyone.append(entry.host)
                groups.setdefault("gpufabric_compute_pools", []).append(entry.host)
                if pool.name == CONTROL_PLANE_POOL:
                    groups.setdefault("gpufabric_control_planes", []).append(entry.host)
                facts = edgehost_facts(by_name[entry.host])
                hosts[entry.host] = {
                    "ansible_host": facts["address"],
                    "gpufabric_edgehost": facts,
                    "gpufabric_compute_pool": {
                        "name": name, "namespace": metadata.get("namespace"), "spoke": spec.get("spoke") or name,
                        "group": group_name("cp", name), "machine_pool": pool.name, "node_type": pool.node_type,
                        "worker_pool": pool.requirement, "status": entry.status,
                        "control_plane": pool.name == CONTROL_PLANE_POOL,
                        "schedule_workloads": bool(control_plane.get("scheduleWorkloads", True)),
                        "control_plane_nodes": int(control_plane.get("nodeCount") or 1)}}
    return {"groups": dict((group, sorted(set(members))) for group, members in sorted(groups.items())),
            "hosts": hosts, "skipped": skipped}


# -- plans ------------------------------------------------------------------------------------------------------------

def _live(found, kind, name, namespace=""):
    return found.get((kind, namespace, name))


def plan_registration(name, facts, found):
    """(errors, writes) registering one edge host: the EdgeHost, then its identity. found: {(kind, namespace,
    name): live object or None} (kube.edgehosts.read_registration). Nothing is written when another machine holds
    the name, or when an identity object of that name exists that the platform did not make for this host."""
    errors = registration_errors(name, facts)
    live = _live(found, KIND, name)
    clash = held_by_another(name, facts, live)
    if clash:
        errors.append(clash)
    writes = []
    desired = [render_edgehost(name, facts)] + identity_objects(name)
    for obj in desired:
        metadata = obj["metadata"]
        current = _live(found, obj["kind"], metadata["name"], metadata.get("namespace") or "")
        if obj["kind"] == "Namespace":
            if current is not None:
                continue  # shared by every edge host; used as it is
        elif current is not None and not owned(current, name):
            where = "/".join(filter(None, (metadata.get("namespace"), metadata["name"])))
            errors.append("edge host %s: %s %s exists and was not made for this host; remove it or give the host "
                          "another name" % (name, obj["kind"], where))
            continue
        write = apply_write(obj, current)
        if write is not None:
            writes.append(write)
    return errors, writes


def plan_deregistration(name, found, holders, force=False):
    """(errors, writes, warnings) removing one edge host's registration: its binding, role, token Secret,
    ServiceAccount, then the EdgeHost - only objects made for this host. holders: the compute pools that hold it
    (allocations_of); refused while there are any, unless force."""
    errors, warnings = [], []
    if holders and not force:
        errors.append("edge host %s is held by compute pool(s) %s; remove it from them first (change or delete the "
                      "compute pool), or set force to deregister it anyway (the compute pools keep naming it, and "
                      "its host becomes unhealthy there)" % (name, ", ".join(holders)))
    elif holders:
        warnings.append("edge host %s deregistered while compute pool(s) %s hold it" % (name, ", ".join(holders)))
    writes = []
    for kind, namespace, obj_name in reversed(registration_keys(name)):
        live = _live(found, kind, obj_name, namespace)
        if live is not None and owned(live, name):
            writes.append(delete_write(dict(live, kind=kind)))
    return errors, writes, warnings


def plan_report(name, facts, live, now, heartbeat=DEFAULT_HEARTBEAT):
    """(errors, write or None) of a host's report on its own EdgeHost."""
    if live is None:
        return ["edge host %s is not registered on the hub (no EdgeHost %s); register it first" % (name, name)], None
    status = report_status(live.get("spec") or {}, facts, live.get("status"), now, heartbeat)
    return [], status_write(live, status, live)


def node_status_write(node, status, live):
    """The Node's status write, or None when the live status already holds every value (the server adds fields of
    its own to a Node's status). The body carries the Node's labels and spec as applied: kube-apiserver 1.20 keeps
    one field set per manager for an object and its status, and a Node's status endpoint accepts metadata, so a
    status-only body would take the labels this manager set off the Node."""
    if live is not None and contains(live.get("status") or {}, drop_empty_strings(status)):
        return None
    body = dict(with_fingerprint(node), status=status)
    return Write(STATUS, "Node", node["metadata"]["name"], None, body, live)


def plan_node(name, facts, labels, control_plane, schedule_workloads, live, now):
    """The writes registering a host as a Node: the Node (labels, the control plane's taint), then its status."""
    node = render_node(name, facts, labels, control_plane, schedule_workloads)
    writes = [write for write in (apply_write(node, live),
                                  node_status_write(node, node_status(name, facts, live, now), live))
              if write is not None]
    return writes
