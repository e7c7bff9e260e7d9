"""Projects and tenants: a Namespace, a GPU ResourceQuota, admin/editor/viewer Roles with bindings and
per-pool access, rendered as plain dicts, every object labelled app.kubernetes.io/managed-by: gpufabric."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    gpu_usage, parse_gpu_quota, usage_by_quota)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.ledger import COMPUTE_POOL, Ledger
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    API_VERSION, MANAGED_BY, dns_label_errors, label_prefix_errors, normalise_family)

ROLES = ("admin", "editor", "viewer")
RBAC_GROUP = "rbac.authorization.k8s.io"
QUOTA_NAME = "gpu-quota"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "patch", "update"]


@dataclass(frozen=True)
class Member:
    kind: str   # User or Group
    name: str
    role: str


@dataclass(frozen=True)
class PoolAccess:
    pool: str
    users: Tuple[str, ...] = ()
    groups: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    tenant: str
    gpu_quota: Tuple[Tuple[str, int], ...] = ()
    members: Tuple[Member, ...] = ()
    pool_access: Tuple[PoolAccess, ...] = ()
    description: str = ""

    @property
    def gpu_total(self):
        return sum(item[1] for item in self.gpu_quota)


def parse_project(args):
    """Module arguments: name, tenant, description, gpu_quota {family: n}, members [{user|group, role}],
    pool_access [{pool, users, groups}]. All errors raised together."""
    errors = dns_label_errors(args.get("name"), "project name")
    if args.get("tenant") is not None:  # a project without a tenant has only its own quota to respect
        errors += dns_label_errors(args.get("tenant"), "tenant name")
    try:
        quota = parse_gpu_quota(args.get("gpu_quota"))
    except FabricError as exc:
        errors += exc.errors
        quota = ()
    members = set()
    for index, raw in enumerate(args.get("members") or ()):
        kinds = [kind for kind in ("user", "group") if raw.get(kind)]
        if len(kinds) != 1:
            errors.append("member %d: give exactly one of user or group" % index)
            continue
        role = raw.get("role")
        if role not in ROLES:
            errors.append("member %s: role %r is not one of admin, editor, viewer" % (raw[kinds[0]], role))
            continue
        members.add(Member(kinds[0].capitalize(), str(raw[kinds[0]]), role))
    access = []
    for raw in args.get("pool_access") or ():
        errors += dns_label_errors(raw.get("pool"), "pool_access pool")
        access.append(PoolAccess(str(raw.get("pool")), tuple(sorted(set(raw.get("users") or ()))),
                                 tuple(sorted(set(raw.get("groups") or ())))))
    names = [a.pool for a in access]
    errors += ["pool_access lists pool %s twice" % n for n in sorted(set(n for n in names if names.count(n) > 1))]
    raise_if(errors)
    return ProjectSpec(args["name"], str(args.get("tenant") or ""), quota,
                       tuple(sorted(members, key=lambda m: (m.role, m.kind, m.name))),
                       tuple(sorted(access, key=lambda a: a.pool)), str(args.get("description") or ""))


def _meta(name, namespace=None, labels=None, annotations=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(sorted(dict(labels or {}, **MANAGED_BY).items()))
    if annotations:
        meta["annotations"] = annotations
    return meta


def role_rules(role):
    """viewer reads; editor also writes deployments, jobs and pods; admin also updates/deletes compute pools.

    One rule per API group, so a Role grants exactly these (group, resource) pairs and nothing of the
    cross product (RBAC escalation checks compare pairs, and the operator must hold every pair it grants).
    """
    rules = [{"apiGroups": [""], "resources": ["pods", "pods/log", "services"], "verbs": list(READ)},
             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": list(READ)},
             {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": list(READ)},
             {"apiGroups": ["gpufabric.io"], "resources": ["computepools"], "verbs": list(READ)}]
    if role in ("editor", "admin"):
        rules += [{"apiGroups": [""], "resources": ["pods"], "verbs": list(WRITE)},
                  {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": list(WRITE)},
                  {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": list(WRITE)}]
    if role == "admin":
        # PaletteAI's computepools:update (update, patch) and computepools:delete
        rules.append({"apiGroups": ["gpufabric.io"], "resources": ["computepools"],
                      "verbs": ["delete", "patch", "update"]})
    return rules


def _subject(kind, name):
    return {"apiGroup": RBAC_GROUP, "kind": kind, "name": name}


def _binding(name, namespace, subjects):
    """A RoleBinding to the Role of the same name. No subjects: the key is left out (the server stores an empty
    list as absent), and server-side apply then drops the subjects this collection set before."""
    binding = {"apiVersion": RBAC_GROUP + "/v1", "kind": "RoleBinding", "metadata": _meta(name, namespace),
               "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name}}
    if subjects:
        binding["subjects"] = subjects
    return binding


def render_project(spec, prefix):
    """Namespace, ResourceQuota, three Roles and their RoleBindings, then pool-access Role+RoleBinding pairs."""
    raise_if(label_prefix_errors(prefix))
    ns = spec.name
    labels = {prefix + "/project": spec.name}
    if spec.tenant:
        labels[prefix + "/tenant"] = spec.tenant
    annotation = quota_annotation(spec.gpu_quota)
    # The quota per family and the pools with declared access, where app_deployment and the tenant read them
    # with the one namespace read (or list) they make anyway.
    ns_annotations = {prefix + "/gpu-quota": annotation}
    if spec.pool_access:
        ns_annotations[prefix + "/pool-access"] = ",".join(access.pool for access in spec.pool_access)
    if spec.description:  # what the project is for, kept on the object that is the project
        ns_annotations[prefix + "/description"] = spec.description
    objects = [{"apiVersion": "v1", "kind": "Namespace",
                "metadata": _meta(ns, labels=labels, annotations=ns_annotations)}]
    objects.append({"apiVersion": "v1", "kind": "ResourceQuota",
                    "metadata": _meta(QUOTA_NAME, ns, annotations={prefix + "/gpu-quota": annotation}),
                    "spec": {"hard": {"requests.nvidia.com/gpu": str(spec.gpu_total)}}})
    for role in ROLES:
        name = "gpufabric-%s" % role
        objects.append({"apiVersion": RBAC_GROUP + "/v1", "kind": "Role", "metadata": _meta(name, ns),
                        "rules": role_rules(role)})
        subjects = [_subject(m.kind, m.name) for m in spec.members if m.role == role]
        objects.append(_binding(name, ns, sorted(subjects, key=lambda s: (s["kind"], s["name"]))))
    for access in spec.pool_access:
        name = "pool-access-%s" % access.pool
        objects.append({"apiVersion": RBAC_GROUP + "/v1", "kind": "Role", "metadata": _meta(name, ns),
                        "rules": [{"apiGroups": ["gpufabric.io"], "resources": ["computepools", "pools"],
                                   "resourceNames": [access.pool], "verbs": ["get", "use"]}]})
        subjects = [_subject("Group", g) for g in access.groups] + [_subject("User", u) for u in access.users]
        objects.append(_binding(name, ns, subjects))
    return objects


def parse_tenant(args):
    """Tenant module arguments: name, gpu_quota {family: n} -> (name, ((family, n), ...))."""
    errors = dns_label_errors(args.get("name"), "tenant name")
    try:
        quota = parse_gpu_quota(args.get("gpu_quota"))
    except FabricError as exc:
        errors += exc.errors
        quota = ()
    raise_if(errors)
    return args["name"], quota


def render_tenant(name, quota):
    """The cluster-scoped Tenant object holding the GPU quota its projects share."""
    return {"apiVersion": API_VERSION, "kind": "Tenant", "metadata": _meta(name),
            "spec": {"gpuQuota": [{"family": family, "gpuCount": count} for family, count in quota]}}


def quota_annotation(quota):
    """((family, n), ...) -> the compact JSON stored in the <prefix>/gpu-quota annotation."""
    return json.dumps(dict(quota), sort_keys=True, separators=(",", ":"))


def read_quota_annotation(obj, prefix):
    """The {family: n} quota recorded on a project's Namespace or ResourceQuota; None when it records none."""
    text = ((obj or {}).get("metadata") or {}).get("annotations", {}).get(prefix + "/gpu-quota")
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise_if(["%s annotation %s/gpu-quota is not JSON: %r" % (obj["metadata"]["name"], prefix, text)])
    return dict(parse_gpu_quota(value, "%s/gpu-quota on %s" % (prefix, obj["metadata"]["name"])))


def pool_access_pools(namespace, prefix):
    """Pools the project declared access for (empty: the project does not restrict pools)."""
    text = ((namespace or {}).get("metadata") or {}).get("annotations", {}).get(prefix + "/pool-access") or ""
    return tuple(name for name in text.split(",") if name)


def tenant_quota(tenant):
    """{family: n} from a Tenant object's spec.gpuQuota list."""
    return dict((normalise_family(row.get("family")), int(row.get("gpuCount") or 0))
                for row in ((tenant or {}).get("spec") or {}).get("gpuQuota") or ())


def _gpu_rows(counts):
    return [{"family": family, "gpuCount": counts[family]} for family in sorted(counts)]


def render_tenant_status(quota, project_quotas):
    """Tenant .status: quota and what its projects were given, per family and per project.

    quota: {family: n}; project_quotas: {project: {family: n}} for every project of the tenant.
    """
    assigned = {}
    for project in project_quotas:
        for family, count in project_quotas[project].items():
            assigned[family] = assigned.get(family, 0) + count
    return {"gpuQuotaTotal": sum(quota.values()), "gpuAssignedTotal": sum(assigned.values()),
            "projectCount": len(project_quotas), "assigned": _gpu_rows(assigned),
            "projects": [{"name": name, "gpu": _gpu_rows(project_quotas[name])} for name in sorted(project_quotas)]}


# -- project_info -------------------------------------------------------------------------------------------------

def quota_rows(quota, used):
    """One row per GPU family in the quota or in use: quota, used, free (negative when over) and used_percent.

    used_percent is the share of the quota in use, rounded down; a family used without any quota counts as 100
    (at or over its quota), so a question about projects near their quota finds it. GPUs in use count under the
    quota family that covers them (core.families: an NVIDIA-A100-80GB app under NVIDIA-A100).
    """
    used = usage_by_quota(quota, used)
    rows = []
    for family in sorted(set(quota) | set(used)):
        limit, taken = quota.get(family, 0), used.get(family, 0)
        percent = taken * 100 // limit if limit else (100 if taken else 0)
        rows.append({"family": family, "quota": limit, "used": taken, "free": limit - taken,
                     "used_percent": percent})
    return rows


def _bound_subjects(state, namespace, name):
    """Subjects of the managed RoleBinding `name` in a project namespace, as (kind, name) pairs."""
    binding = state.get("RoleBinding", name, namespace)
    labels = ((binding or {}).get("metadata") or {}).get("labels") or {}
    if binding is None or any(labels.get(key) != value for key, value in MANAGED_BY.items()):
        return []
    return [(str(s.get("kind")), str(s.get("name"))) for s in binding.get("subjects") or ()]


def _app_row(app, targets, compute_pools):
    """Where an app holds its GPUs: its labelled pool or compute pool, and the spoke it runs on (None: the
    cluster read)."""
    row = {"name": app.name, "namespace": app.namespace, "family": app.family or None, "gpu_count": app.count,
           "architecture": app.architecture, "pool": None, "compute_pool": None, "spoke": None}
    if targets:
        kind, target, where = targets[0]
        if kind == COMPUTE_POOL:
            row["compute_pool"] = target
            spec = (compute_pools.get((where or "", target)) or {}).get("spec") or {}
            row["spoke"] = spec.get("spoke") or None
        else:
            row["pool"], row["spoke"] = target, where or None
    return row


def project_rows(state, prefix, name=None, tenant=None):
    """project_info: every project (a namespace carrying <prefix>/gpu-quota, not being deleted), sorted by name.

    state: a ClusterState with Namespace, RoleBinding, Pool, ComputePool, Deployment, Job and ManifestWork read.
    GPUs used are the apps the allocation ledger holds for the project, the numbers app_deployment checks the
    quota against, each under the quota family that covers it. gpu_quota and gpu_used keep the project module's
    {family: n} shape; gpus has the same numbers as a list of rows, with free and used_percent; apps name the
    family each app holds as recorded.
    """
    ledger = Ledger({"": state})
    compute_pools = dict(((cp["metadata"].get("namespace") or "", cp["metadata"]["name"]), cp)
                         for cp in state.items("ComputePool"))
    rows = []
    for namespace in sorted(state.items("Namespace"), key=lambda ns: ns["metadata"]["name"]):
        metadata = namespace["metadata"]
        project = metadata["name"]
        quota = read_quota_annotation(namespace, prefix)
        if quota is None or metadata.get("deletionTimestamp"):
            continue
        owner = (metadata.get("labels") or {}).get(prefix + "/tenant") or None
        if (name and project != name) or (tenant and owner != tenant):
            continue
        apps = ledger.apps_in(project)
        # an app without GPUs holds no family; the others count under the quota family that covers them, as the
        # project module reports them and app_deployment checks them
        used = usage_by_quota(quota, gpu_usage(app for app in apps if app.count))
        members = sorted(((role, kind, subject) for role in ROLES
                          for kind, subject in _bound_subjects(state, project, "gpufabric-%s" % role)))
        access = []
        for pool in pool_access_pools(namespace, prefix):
            subjects = _bound_subjects(state, project, "pool-access-%s" % pool)
            access.append({"pool": pool, "users": sorted(n for k, n in subjects if k == "User"),
                           "groups": sorted(n for k, n in subjects if k == "Group")})
        rows.append({
            "name": project,
            "tenant": owner,
            "description": (metadata.get("annotations") or {}).get(prefix + "/description", ""),
            "gpu_quota": dict(sorted(quota.items())),
            "gpu_used": dict(sorted(used.items())),
            "gpu_quota_total": sum(quota.values()),
            "gpu_used_total": sum(used.values()),
            "gpus": quota_rows(quota, used),
            "apps": [_app_row(app, ledger.where(project, app.name), compute_pools) for app in apps],
            "members": [{"kind": kind, "name": subject, "role": role} for role, kind, subject in members],
            "pool_access": access,
        })
    return rows
