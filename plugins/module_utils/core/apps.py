"""App deployments (PaletteAI's, with NVIDIA OSMO's pod templates and rules): an AI/ML workload placed on a
labelled pool or a compute pool.

The core decides everything here: the variables (OSMO default variables, then the user's resources), the
resource validation verdict, which GPU family the app takes, whether it fits (free GPUs of the family, the
project's quota per family, a dedicated compute pool's single app), the merged pod template and the workload
object, and the allocation records summed over every app. The module only reads and writes.

Every workload gpufabric writes carries its allocation in an annotation, so the set of apps on a pool or in a
project is read back from the workloads themselves (the single source of truth; statuses are summaries).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import (
    ACTIVE_POD_PHASES, APP_LABEL, AppAllocation, Placement, check_fit, check_quota, dedicated_errors, gpu_usage,
    hardware_allocation, is_app_pod, node_gpus, pod_gpu_request)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.families import (
    covers, gpu_row, node_kind, row_name, split_name)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.labelled import pool_keys
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import GPU_RESOURCE
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    MAX_COUNT, MANAGED_BY, dns_label_errors, family_errors, label_key_errors, label_value_errors,
    normalise_architecture, normalise_family)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.osmo import (
    merge_pod_templates, resolve_variables, substitute, validation_failures)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import format_quantity, parse_quantity

KINDS = ("Deployment", "Job")
POOL_LABEL = "gpufabric.io/pool"
COMPUTE_POOL_LABEL = "gpufabric.io/compute-pool"
ALLOCATION = "gpufabric.io/allocation"
PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
GPU_RUNTIME_CLASS = "nvidia"
# resources option -> OSMO variable; user values override the default variables (as in OSMO).
RESOURCE_VARIABLES = (("gpu", "USER_GPU"), ("cpu", "USER_CPU"), ("memory", "USER_MEMORY"),
                      ("storage", "USER_STORAGE"))


@dataclass(frozen=True)
class AppSpec:
    """An app deployment's arguments, checked. variables: the OSMO variables after the user's resources."""

    name: str
    namespace: str
    target_kind: str            # "pool" (labelled pool) or "compute_pool"
    target: str
    kind: str
    image: str
    platform: Optional[str] = None
    command: Tuple[str, ...] = ()
    args: Tuple[str, ...] = ()
    env: Tuple[Tuple[str, str], ...] = ()
    replicas: int = 1
    gpu: int = 0
    variables: Tuple[Tuple[str, object], ...] = ()
    pod_templates: Tuple[str, ...] = ()        # JSON text, so the spec stays immutable and comparable
    resource_validations: Tuple[str, ...] = ()

    @property
    def gpu_total(self):
        """GPUs the app holds: per pod times pods (replicas of a Deployment, parallel pods of a Job)."""
        return self.gpu * self.replicas

    @property
    def target_label(self):
        return POOL_LABEL if self.target_kind == "pool" else COMPUTE_POOL_LABEL


def _texts(values, what, errors):
    if values is None:
        return ()
    if not isinstance(values, (list, tuple)):
        errors.append("%s must be a list of strings, got %r" % (what, values))
        return ()
    return tuple(str(v) for v in values)


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def parse_app(args):
    """Module arguments -> AppSpec; every error found is raised together (FabricError)."""
    errors = dns_label_errors(args.get("name"), "app name")
    errors += dns_label_errors(args.get("namespace"), "namespace")
    targets = [key for key in ("pool", "compute_pool") if args.get(key)]
    if len(targets) != 1:
        errors.append("give exactly one of pool (a labelled pool) or compute_pool, got %s"
                      % (" and ".join(targets) or "neither"))
    else:
        errors += dns_label_errors(args[targets[0]], targets[0])
    kind = args.get("kind") or "Deployment"
    if kind not in KINDS:
        errors.append("kind %r is not one of Deployment, Job" % kind)
    replicas = args.get("replicas", 1)
    replicas = 1 if replicas is None else replicas
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_COUNT:
        errors.append("replicas must be an integer from 1 to %d, got %r" % (MAX_COUNT, replicas))
        replicas = 1
    if not args.get("image"):
        errors.append("image is required with state=present")
    resources = args.get("resources") or {}
    user = {}
    for key, variable in RESOURCE_VARIABLES:
        if resources.get(key) is not None:
            user[variable] = resources[key]
    variables = resolve_variables(args.get("default_variables") or {}, None, user)
    gpu = variables.get("USER_GPU", 0)
    try:
        gpu_value = parse_quantity(gpu)
        if gpu_value < 0 or gpu_value.denominator != 1 or gpu_value > MAX_COUNT:
            raise ValueError(gpu)
        gpu = int(gpu_value)
    except (TypeError, ValueError):
        errors.append("resources.gpu (USER_GPU) must be a whole number of GPUs from 0 to %d, got %r"
                      % (MAX_COUNT, gpu))
        gpu = 0
    for key, variable in RESOURCE_VARIABLES[1:]:
        if variable in variables:
            try:
                negative = parse_quantity(variables[variable]) < 0
            except (TypeError, ValueError):
                errors.append("resources.%s (%s) %r is not a quantity" % (key, variable, variables[variable]))
                continue
            if negative:
                errors.append("resources.%s (%s) %r is negative; a request is at least 0"
                              % (key, variable, variables[variable]))
    templates = args.get("pod_templates") or []
    errors += ["pod_templates[%d] must be a mapping (a pod template), got %r" % (i, t)
               for i, t in enumerate(templates) if not isinstance(t, dict)]
    rules = args.get("resource_validations") or []
    errors += ["resource_validations[%d] must be a mapping (operator, left_operand, right_operand, "
               "assert_message), got %r" % (i, r) for i, r in enumerate(rules) if not isinstance(r, dict)]
    env = args.get("env") or {}
    if not isinstance(env, dict):
        errors.append("env must be a mapping of variable name to value, got %r" % (env,))
        env = {}
    # A value is written as its text: a mapping, a list or null would become Python's spelling of it.
    errors += ["env.%s must be a string or a number, got %r" % (key, value) for key, value in
               sorted(env.items(), key=lambda item: str(item[0])) if value is None or isinstance(value, (dict, list))]
    platform = args.get("platform")
    if platform:  # a GPU type label value on a labelled pool, a family on a compute pool
        errors += family_errors(platform, "platform") if targets[0] == "compute_pool" else \
            label_value_errors(platform, "platform (a GPU type of the pool)")
    command = _texts(args.get("command"), "command", errors)
    arguments = _texts(args.get("args"), "args", errors)
    raise_if(errors)
    variables = dict(variables, USER_CONTAINER_NAME=args["name"])
    return AppSpec(args["name"], args["namespace"], targets[0], args[targets[0]], kind, str(args["image"]),
                   args.get("platform") or None, command, arguments,
                   tuple(sorted((str(k), str(v)) for k, v in env.items())), replicas, gpu,
                   tuple(sorted(variables.items())), tuple(_canonical(t) for t in templates),
                   tuple(_canonical(r) for r in rules))


def validation_messages(spec):
    """Assert messages of the failing resource validation rules (variables substituted), in rule order."""
    return validation_failures([json.loads(rule) for rule in spec.resource_validations], dict(spec.variables))


# -- the apps already placed, read back from their workloads -----------------------------------------------

def allocation_record(spec, family, architecture):
    """The allocation annotation of an app's workload: what it holds (family and, when the app is held to one
    memory size, memoryGB), and where."""
    record = {"target": spec.target_kind, "name": spec.target, "architecture": architecture,
              "count": spec.gpu_total}
    record.update((key, value) for key, value in gpu_row(family, 0).items() if key != "gpuCount")
    return record


def app_from_workload(obj):
    """(target kind, target, AppAllocation) recorded on a gpufabric workload; None if it records none."""
    metadata = obj.get("metadata") or {}
    text = (metadata.get("annotations") or {}).get(ALLOCATION)
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    app = AppAllocation(metadata.get("name"), metadata.get("namespace") or "",
                        normalise_architecture(record.get("architecture") or "AMD64") or "AMD64",
                        row_name(record), int(record.get("count") or 0))
    return record.get("target"), record.get("name"), app


# -- where the app lands -------------------------------------------------------------------------------------

def _labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def _node_family(node):
    """The name a node's GPUs count as (core.families: NVIDIA-A100-80GB for an A100-SXM4-80GB), '' without a
    product label."""
    kind = node_kind(_labels(node))
    return kind.name if kind is not None else ""


def _node_arch(node):
    return normalise_architecture(_labels(node).get("kubernetes.io/arch") or "amd64") or "AMD64"


def gpus_by_family(nodes):
    """{family: GPUs} over the nodes: what a quota of that family is checked against."""
    totals = {}
    for node in nodes:
        family = _node_family(node)
        if family:
            totals[family] = totals.get(family, 0) + node_gpus(node)
    return totals


def labelled_capacity(nodes, pods):
    """(capacity, foreign) for a labelled pool's nodes, in hardwareCapacity shape: GPUs on the nodes, and GPUs
    requested by active pods on them that are not gpufabric app pods (apps are counted by their records)."""
    capacity, foreign, by_name = {}, {}, {}
    for node in nodes:
        key = (_node_arch(node), _node_family(node))
        by_name[node["metadata"]["name"]] = key
        if node_gpus(node) and key[1]:
            capacity[key] = capacity.get(key, 0) + node_gpus(node)
    for pod in pods:
        key = by_name.get((pod.get("spec") or {}).get("nodeName"))
        if key is None or is_app_pod(pod) or (pod.get("status") or {}).get("phase") not in ACTIVE_POD_PHASES:
            continue
        foreign[key] = foreign.get(key, 0) + pod_gpu_request(pod)

    def rows(counts):
        arches = sorted(set(key[0] for key in counts))
        return [{"architecture": arch, "gpu": [gpu_row(fam, counts[(a, fam)])
                                               for a, fam in sorted(counts) if a == arch]} for arch in arches]
    return rows(capacity), rows(foreign)


def capacity_families(capacity):
    """The names of the GPU kinds a hardwareCapacity holds (NVIDIA-A100-80GB, NVIDIA-A10), sorted."""
    return sorted(set(row_name(g) for row in capacity or () for g in row.get("gpu") or () if g.get("gpuCount")))


def _held_to(family, kinds):
    """What an app asking `family` holds on a pool offering `kinds`: the one kind it covers there, else the
    family itself (an NVIDIA-A100 app on a pool of 40 and 80 GB A100s may get either)."""
    covered = sorted(set(kind for kind in kinds if covers(family, kind)))
    return covered[0] if len(covered) == 1 else family


def choose_family(spec, capacity, gpu_types=()):
    """(family, errors): the GPU family the app takes on its pool, as narrow as the pool allows (its memory when
    the pool's GPUs of that family all have one size). `platform` picks it on a compute pool (NVIDIA-A100, or
    NVIDIA-A100-80GB for the 80 GB ones only); on a labelled pool `platform` is a GPU type and `capacity` is
    already restricted to its nodes."""
    kinds = capacity_families(capacity)
    families = sorted(set(split_name(kind)[0] for kind in kinds))
    where = "%s %s" % ("pool" if spec.target_kind == "pool" else "compute pool", spec.target)
    if spec.target_kind == "compute_pool" and spec.platform:
        family = normalise_family(spec.platform)
        if not any(covers(family, kind) for kind in kinds):
            return family, ["%s has no %s GPUs (families: %s)" % (where, family, ", ".join(kinds) or "none")]
        return _held_to(family, kinds), []
    if spec.gpu == 0:
        return (_held_to(families[0], kinds) if len(families) == 1 else ""), []
    if not families:
        return "", ["%s has no GPUs%s to place %d x %d GPUs on" % (
            where, " of GPU type %s" % spec.platform if spec.platform else "", spec.replicas, spec.gpu)]
    if len(families) > 1:
        hint = ("set platform to one of its GPU types: %s" % ", ".join(gpu_types)) if spec.target_kind == "pool" \
            else "set platform to one of them"
        return "", ["%s has GPUs of %d families (%s); %s" % (where, len(families), ", ".join(families), hint)]
    return _held_to(families[0], kinds), []


def place(spec, family, capacity, used, mode, pool_apps, quota, project_apps, selector, architecture=None,
          products=()):
    """Check the app against its pool's free GPUs of its family and its project's quota, never counting itself
    twice (its previous record, if any, is replaced). `used`: GPUs held on the pool by anything that is not a
    gpufabric app (hardwareAllocation shape); products: the GPU products its pods may land on (node_selector).
    Returns a Placement; errors empty means it may be written."""
    request = AppAllocation(spec.name, spec.namespace, architecture or "AMD64", family, spec.gpu_total)
    key = (spec.namespace, spec.name)
    others = [a for a in pool_apps if (a.namespace, a.name) != key]
    what = "pool" if spec.target_kind == "pool" else "compute pool"
    gpu = check_fit(spec.target, capacity, hardware_allocation(others) + list(used or ()), family,
                    spec.gpu_total, what=what)
    quota_fit = check_quota(spec.namespace, quota, gpu_usage(a for a in project_apps if a.name != spec.name),
                            family, spec.gpu_total)
    errors = dedicated_errors(spec.target, mode, others, spec.name) if spec.target_kind == "compute_pool" else []
    errors += [fit.message for fit in (gpu, quota_fit) if not fit.fits and spec.gpu_total]
    apps_after = tuple(sorted(others + [request], key=lambda a: (a.namespace, a.name)))
    return Placement(spec.target, family, spec.gpu_total, tuple(sorted(selector.items())), gpu, quota_fit,
                     tuple(errors), apps_after, tuple(products) if spec.gpu else ())


def placement_report(spec, placement):
    """The module's `placement` result: where the app lands, the GPUs left on the pool and the quota left."""
    report = placement.to_dict()
    report["target"] = {"kind": "Pool" if spec.target_kind == "pool" else "ComputePool", "name": spec.target}
    return report


def node_selector(spec, family, prefix, products=()):
    """The pool's placement: <prefix>/pool (and <prefix>/gpu-type for a platform) on a labelled pool,
    <prefix>/compute-pool on a compute pool; nvidia.com/gpu.product when the app takes GPUs and its family is one
    product on the pool's nodes. products: the product labels of the pool's nodes the family covers
    (core.families.products_of); several are selected by node affinity instead (gpu_affinity)."""
    if spec.target_kind == "pool":
        pool_key, type_key = pool_keys(prefix)
        selector = {pool_key: spec.target}
        if spec.platform:
            selector[type_key] = spec.platform
    else:
        selector = {prefix + "/compute-pool": spec.target}
    if spec.gpu and family and len(products) == 1:
        selector[PRODUCT_LABEL] = products[0]
    return selector


def require_products(template_spec, products):
    """A pod spec that lands only on nodes of these GPU products, when there are several (one is a node selector):
    the requirement joins every term of the required node affinity a template brought (terms are alternatives,
    so each must hold it), or makes the one term."""
    if len(products) < 2:
        return
    wanted = {"key": PRODUCT_LABEL, "operator": "In", "values": list(products)}
    affinity = template_spec.setdefault("affinity", {})
    node = affinity.setdefault("nodeAffinity", {}) if isinstance(affinity, dict) else None
    if not isinstance(node, dict):
        return  # template_errors names what is wrong; nothing is written
    required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.setdefault("nodeSelectorTerms", []) if isinstance(required, dict) else None
    if not isinstance(terms, list):
        return
    if not terms:
        terms.append({})
    for term in terms:
        if isinstance(term, dict):
            expressions = term.setdefault("matchExpressions", [])
            if isinstance(expressions, list) and wanted not in expressions:
                expressions.append(dict(wanted))


# -- the workload ------------------------------------------------------------------------------------------

def substitute_all(value, variables):
    """{{VAR}} replaced in every string of a template (OSMO's template variables)."""
    if isinstance(value, dict):
        return dict((k, substitute_all(v, variables)) for k, v in value.items())
    if isinstance(value, list):
        return [substitute_all(v, variables) for v in value]
    if isinstance(value, str) and "{{" in value:
        return substitute(value, variables)
    return value


def canonical_quantity(value):
    """A quantity as the API server stores it (binary suffixes stay binary, others decimal: '1024Mi' -> '1Gi',
    '0.5' -> '500m', '4096' stays '4096'), so a re-run compares equal and sends nothing."""
    text = str(value).strip()
    return format_quantity(parse_quantity(text), "binary" if text.endswith("i") else "decimal")


def _container(spec):
    variables = dict(spec.variables)
    requests = {}
    for key, resource in (("USER_CPU", "cpu"), ("USER_MEMORY", "memory"), ("USER_STORAGE", "ephemeral-storage")):
        if key in variables:
            requests[resource] = canonical_quantity(variables[key])
    limits = {}
    if spec.gpu:  # extended resources: request == limit
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(spec.gpu)
    container = {"name": spec.name, "image": spec.image}
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if spec.env:
        container["env"] = [{"name": k, "value": v} for k, v in spec.env]
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    if resources:
        container["resources"] = resources
    return container


def _without_gpus(template):
    """A CPU-only app's pod template: the GPU toleration, the NVIDIA runtime class and any nvidia.com/gpu
    resources that platform-wide templates add are taken out (a pod that asks no GPU must not look like one)."""
    spec = template.get("spec") or {}
    if spec.get("runtimeClassName") == GPU_RUNTIME_CLASS:
        spec.pop("runtimeClassName")
    if isinstance(spec.get("tolerations"), list):
        spec["tolerations"] = [t for t in spec["tolerations"]
                               if not (isinstance(t, dict) and t.get("key") == GPU_RESOURCE)]
        if not spec["tolerations"]:
            spec.pop("tolerations")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = container.get("resources") if isinstance(container, dict) else None
        for part in ("requests", "limits"):
            if isinstance(resources, dict) and isinstance(resources.get(part), dict):
                resources[part].pop(GPU_RESOURCE, None)
                if not resources[part]:
                    resources.pop(part)
    return template


def pod_template(spec, selector, products=()):
    """The pod template: the app's container, GPU toleration and the pool's node selector first, then the
    pod_templates merged in order (later wins, OSMO), then the pool's node selector (and the node affinity to
    its GPU products, when the family is several) again: a template may add to the placement but never move the
    app off its pool. A CPU-only app carries nothing GPU-specific."""
    variables = dict(spec.variables)
    base = {"metadata": {"labels": dict(MANAGED_BY, **{APP_LABEL: spec.name})},
            "spec": {"containers": [_container(spec)], "nodeSelector": dict(selector)}}
    if spec.gpu:
        base["spec"]["tolerations"] = [dict(GPU_TOLERATION)]
    if spec.kind == "Job":
        base["spec"]["restartPolicy"] = "Never"
    templates = [substitute_all(json.loads(text), variables) for text in spec.pod_templates]
    merged = merge_pod_templates([base] + templates)
    if not isinstance(merged.get("spec"), dict) or not isinstance(merged.get("metadata", {}), dict):
        return merged  # template_errors names what is wrong; nothing is written
    merged.setdefault("spec", {}).setdefault("nodeSelector", {})
    if isinstance(merged["spec"]["nodeSelector"], dict):
        merged["spec"]["nodeSelector"].update(selector)
    if spec.gpu:
        require_products(merged["spec"], products)
    labels = merged.setdefault("metadata", {}).setdefault("labels", {})
    if isinstance(labels, dict):
        labels[APP_LABEL] = spec.name
    return merged if spec.gpu else _without_gpus(merged)


def _label_map_errors(value, where):
    """Labels or a node selector: keys and values as the API server accepts them for labels."""
    if not isinstance(value, dict):
        return ["%s must be a mapping of strings, got %r" % (where, value)]
    errors = []
    for key, item in sorted(value.items(), key=lambda pair: str(pair[0])):
        errors += label_key_errors(key, "%s key" % where)
        if not isinstance(item, str):
            errors.append("%s.%s must be a string, got %r" % (where, key, item))
        else:
            errors += label_value_errors(item, "%s.%s" % (where, key))
    return errors


def _container_errors(container, where):
    if not isinstance(container, dict):
        return ["%s must be a mapping (a container), got %r" % (where, container)]
    errors = dns_label_errors(container.get("name"), "%s.name" % where)
    if not isinstance(container.get("image"), str) or not container.get("image"):
        errors.append("%s.image must be a non-empty string, got %r" % (where, container.get("image")))
    for key in ("command", "args"):
        value = container.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            errors.append("%s.%s must be a list of strings, got %r" % (where, key, value))
    env = container.get("env")
    if env is not None and (not isinstance(env, list)
                            or not all(isinstance(e, dict) and e.get("name") for e in env)):
        errors.append("%s.env must be a list of {name, value} mappings, got %r" % (where, env))
    resources = container.get("resources")
    if resources is not None:
        if not isinstance(resources, dict):
            return errors + ["%s.resources must be a mapping, got %r" % (where, resources)]
        for part in ("requests", "limits"):
            values = resources.get(part)
            if values is None:
                continue
            if not isinstance(values, dict):
                errors.append("%s.resources.%s must be a mapping, got %r" % (where, part, values))
                continue
            for name, value in sorted(values.items(), key=str):
                try:
                    negative = parse_quantity(value) < 0
                except ValueError as exc:
                    errors.append("%s.resources.%s.%s: %s" % (where, part, name, exc))
                    continue
                if negative:
                    errors.append("%s.resources.%s.%s: %r is negative; it must be at least 0"
                                  % (where, part, name, value))
        gpus = [resources[part].get(GPU_RESOURCE) if isinstance(resources.get(part), dict) else None
                for part in ("requests", "limits")]
        if None not in gpus:  # an extended resource: the server refuses a request other than the limit
            try:
                differ = parse_quantity(gpus[0]) != parse_quantity(gpus[1])
            except ValueError:
                differ = False  # named above
            if differ:
                errors.append("%s.resources: %s request %s and limit %s differ; the API server requires a GPU "
                              "request to equal its limit" % (where, GPU_RESOURCE, gpus[0], gpus[1]))
    return errors


def template_errors(template, kind="Deployment"):
    """What the API server would refuse in a merged pod template, found before anything is written."""
    if not isinstance(template, dict):
        return ["the pod template must be a mapping, got %r" % (template,)]
    errors = []
    metadata, spec = template.get("metadata", {}), template.get("spec")
    if not isinstance(metadata, dict):
        errors.append("pod template metadata must be a mapping, got %r" % (metadata,))
    elif "labels" in metadata:
        errors += _label_map_errors(metadata["labels"], "pod template metadata.labels")
    if not isinstance(spec, dict):
        return errors + ["pod template spec must be a mapping, got %r" % (spec,)]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append("pod template spec.containers must be a non-empty list, got %r" % (containers,))
        containers = []
    for part, items in (("containers", containers), ("initContainers", spec.get("initContainers") or [])):
        if not isinstance(items, list):
            errors.append("pod template spec.%s must be a list, got %r" % (part, items))
            continue
        for index, container in enumerate(items):
            errors += _container_errors(container, "pod template spec.%s[%d]" % (part, index))
        names = [c.get("name") for c in items if isinstance(c, dict)]
        errors += ["pod template spec.%s has two containers named %s" % (part, n)
                   for n in sorted(set(n for n in names if isinstance(n, str) and names.count(n) > 1))]
    if "nodeSelector" in spec:
        errors += _label_map_errors(spec["nodeSelector"], "pod template spec.nodeSelector")
    tolerations = spec.get("tolerations")
    if tolerations is not None and (not isinstance(tolerations, list)
                                    or not all(isinstance(t, dict) for t in tolerations)):
        errors.append("pod template spec.tolerations must be a list of mappings, got %r" % (tolerations,))
    for key in ("volumes", "imagePullSecrets"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            errors.append("pod template spec.%s must be a list of mappings, got %r" % (key, value))
    for key in ("runtimeClassName", "serviceAccountName", "priorityClassName", "schedulerName"):
        if key in spec and not isinstance(spec[key], str):
            errors.append("pod template spec.%s must be a string, got %r" % (key, spec[key]))
    policies = ("OnFailure", "Never") if kind == "Job" else ("Always",)
    if spec.get("restartPolicy", policies[0]) not in policies:
        errors.append("pod template spec.restartPolicy %r is not allowed for a %s (%s)"
                      % (spec.get("restartPolicy"), kind, " or ".join(policies)))
    return errors


def workload_gpu_errors(spec, workload):
    """The rendered workload is one the server accepts, and each of its pods asks exactly the GPUs the app
    declares (resources.gpu): the capacity and quota checks count that figure, so a template that sets
    nvidia.com/gpu or adds a GPU container would run pods nobody counted."""
    template = workload["spec"]["template"]
    errors = template_errors(template, spec.kind)
    if errors:
        return errors
    asked = pod_gpu_request(template)
    if asked != spec.gpu:
        return ["pod_templates make each pod of %s/%s request %d GPU(s), but resources.gpu is %d: the capacity and "
                "quota checks count resources.gpu, so set it to %d or take nvidia.com/gpu out of the templates"
                % (spec.namespace, spec.name, asked, spec.gpu, asked)]
    return []


def render_workload(spec, placement, architecture="AMD64"):
    """The Deployment or Job, labelled with the app and its pool, carrying its allocation record."""
    selector = dict(placement.node_selector)
    record = allocation_record(spec, placement.family, architecture)
    metadata = {"name": spec.name, "namespace": spec.namespace,
                "labels": dict(sorted(dict(MANAGED_BY, **{APP_LABEL: spec.name, spec.target_label: spec.target})
                                      .items())),
                "annotations": {ALLOCATION: _canonical(record)}}
    template = pod_template(spec, selector, placement.products)
    if spec.kind == "Deployment":
        body = {"replicas": spec.replicas, "selector": {"matchLabels": {APP_LABEL: spec.name}}, "template": template}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": body}
    body = {"parallelism": spec.replicas, "completions": spec.replicas, "template": template}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": body}


# -- the allocation records on the pools -----------------------------------------------------------------------

def compute_pool_mode(obj):
    """dedicated or shared, from a ComputePool's spec.clusterVariant (status.mode as a fallback)."""
    variant = ((obj or {}).get("spec") or {}).get("clusterVariant") or {}
    for mode in ("dedicated", "shared"):
        if mode in variant:
            return mode
    return ((obj or {}).get("status") or {}).get("mode") or "shared"
