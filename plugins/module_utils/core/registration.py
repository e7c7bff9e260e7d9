"""Hub and spokes in Open Cluster Management's terms, as plain objects and pure decisions.

Registration is OCM's double opt-in, declared from both ends in one run: on the hub a ManagedCluster with
`hubAcceptsClient: true` (the hub accepts the cluster), on the spoke a Klusterlet and the `bootstrap-hub-kubeconfig`
Secret its agent joins with (the cluster asks to join). The bootstrap kubeconfig authenticates as the hub's
bootstrap identity, a ServiceAccount that may only do what an agent needs before it is accepted: send certificate
signing requests, create and read its ManagedCluster, join a cluster set. Beside OCM's objects the platform keeps
its own way to reach the spoke: a ServiceAccount on the spoke bound to the gpufabric-operator ClusterRole there,
whose token the hub keeps in the `gpufabric-spoke-connection` Secret in the spoke's namespace.

Nothing here reads or writes. The kube layer reads the objects `reads` names (each by name: the platform's own
Secrets may be read by name only), this module decides the writes (core.writes.Write; cluster "" is the hub, the
spoke's name its side) and renders every object and kubeconfig, the same bytes for the same input.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.capacity import APP_LABEL
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import host_from_node
from ansible_collections.gpufabric.platform.plugins.module_utils.core.names import (
    LABEL_LIMIT, MANAGED_BY, dns_label_errors, label_value_errors, managed)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.writes import (
    DELETE, apply_write, delete_write)

# -- OCM's API: groups, versions and kinds (facts of its API, not of its files) ---------------------------------------

CLUSTER_API = "cluster.open-cluster-management.io/v1"
CLUSTER_SET_API = "cluster.open-cluster-management.io/v1beta2"
WORK_API = "work.open-cluster-management.io/v1"
OPERATOR_API = "operator.open-cluster-management.io/v1"
# kind -> (apiVersion, plural, namespaced), as the kube layer's kind table holds them
OCM_KINDS = {
    "ManagedCluster": (CLUSTER_API, "managedclusters", False),
    "ManagedClusterSet": (CLUSTER_SET_API, "managedclustersets", False),
    "ManifestWork": (WORK_API, "manifestworks", True),
    "Klusterlet": (OPERATOR_API, "klusterlets", False),
}
OCM_GROUPS = ("cluster.open-cluster-management.io", "work.open-cluster-management.io",
              "operator.open-cluster-management.io")
HUB_KINDS = ("ManagedCluster", "ManagedClusterSet", "ManifestWork")  # what the platform writes on the hub
SPOKE_KINDS = ("Klusterlet",)  # what registration writes on a spoke
CLUSTERSET_LABEL = "cluster.open-cluster-management.io/clusterset"
CRD_API = "apiextensions.k8s.io/v1"
RBAC_API = "rbac.authorization.k8s.io/v1"

# -- names ------------------------------------------------------------------------------------------------------------

HUB_NAMESPACE = "open-cluster-management"  # on the hub: the bootstrap identity
AGENT_NAMESPACE = "open-cluster-management-agent"  # on a spoke: where OCM's agent runs and reads its bootstrap Secret
BOOTSTRAP_SECRET = "bootstrap-hub-kubeconfig"  # OCM's name: the Klusterlet looks for it in the agent namespace
KLUSTERLET = "klusterlet"
BOOTSTRAP_IDENTITY = "gpufabric-bootstrap"  # ServiceAccount, ClusterRole and ClusterRoleBinding on the hub
BOOTSTRAP_TOKEN = "gpufabric-bootstrap-token"
SPOKE_NAMESPACE = "gpufabric-system"  # on a spoke: the hub's identity there
HUB_IDENTITY = "gpufabric-hub"  # ServiceAccount and ClusterRoleBinding on a spoke
HUB_IDENTITY_TOKEN = "gpufabric-hub-token"
CONNECTION_SECRET = "gpufabric-spoke-connection"  # on the hub, in the spoke's namespace
OPERATOR_ROLE = "gpufabric-operator"
# The Secrets the collection reads and writes by name (the operator ClusterRole grants get/patch/delete on these
# names only).
SECRETS = (CONNECTION_SECRET, BOOTSTRAP_SECRET, BOOTSTRAP_TOKEN, HUB_IDENTITY_TOKEN)
KUBECONFIG_KEY = "kubeconfig"
SPOKE_LABEL = "gpufabric.io/spoke"  # on every object registration writes for one spoke
UID_ANNOTATION = "gpufabric.io/cluster-uid"  # the spoke's kube-system namespace uid: the same cluster, any name
SERVICE_ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"
TOKEN_TYPE = "kubernetes.io/service-account-token"
DEFAULT_CLUSTER_SET = "default"
MODES = ("Default", "Singleton")
# klusterlet option -> Klusterlet spec field
IMAGES = (("registration_image", "registrationImagePullSpec"), ("work_image", "workImagePullSpec"),
          ("image", "imagePullSpec"))
HIDDEN = "(hidden)"  # what diffs show of a Secret's values


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _labels(name=None, **extra):
    labels = dict(MANAGED_BY)
    if name:
        labels[SPOKE_LABEL] = name
    labels.update(extra)
    return labels


# -- the spoke module's arguments -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpokeSpec:
    """One spoke as the spoke module declares it. connection: the `cluster` sub-dict ({} when not given: then
    the connection the hub keeps is used); images: ((Klusterlet field, image), ...) of the images given."""

    name: str
    cluster_set: str = DEFAULT_CLUSTER_SET
    connection: Tuple[Tuple[str, object], ...] = ()
    hub_url: str = ""
    mode: str = "Default"
    images: Tuple[Tuple[str, str], ...] = ()
    present: bool = True
    force: bool = False
    wait_timeout: int = 60

    @property
    def options(self):
        """The connection options of the spoke, as connect() takes them."""
        return dict(self.connection)


def parse_spoke(params):
    """The spoke module's checked options -> SpokeSpec, or FabricError naming every problem."""
    name = params.get("name")
    errors = dns_label_errors(name, "spoke name")
    if errors:  # the name is the ManagedCluster's and its namespace's on the hub
        errors = [error + "; it names the ManagedCluster and the spoke's namespace on the hub" for error in errors]
    cluster_set = params.get("cluster_set") or DEFAULT_CLUSTER_SET
    errors += dns_label_errors(cluster_set, "cluster_set")
    present = params.get("state", "present") == "present"
    connection = params.get("cluster") or {}
    if present and not any(value not in (None, "", [], {}) for value in connection.values()):
        errors.append("spoke %s: cluster is required with state=present: the connection to the spoke (kubeconfig and "
                      "context, or host with credentials)" % name)
    hub_url = params.get("hub_url") or ""
    if hub_url and not hub_url.startswith("https://"):
        errors.append("hub_url %s must be an https:// URL (the API server the spoke's agent reaches the hub at)"
                      % hub_url)
    klusterlet = params.get("klusterlet") or {}
    mode = klusterlet.get("mode") or "Default"
    if mode not in MODES:
        errors.append("klusterlet.mode is %s; expected one of %s" % (mode, ", ".join(MODES)))
    images = []
    for option, field in IMAGES:
        image = klusterlet.get(option)
        if image:
            if any(char.isspace() for char in image):
                errors.append("klusterlet.%s '%s' is not an image reference (it has white space)" % (option, image))
            images.append((field, image))
    timeout = params.get("wait_timeout")
    timeout = 60 if timeout is None else timeout
    if not 1 <= timeout <= 3600:
        errors.append("wait_timeout is %s; give 1 to 3600 seconds" % timeout)
    raise_if(errors)
    return SpokeSpec(name=name, cluster_set=cluster_set,
                     connection=tuple(sorted((k, v) for k, v in connection.items() if v is not None)),
                     hub_url=hub_url, mode=mode, images=tuple(images), present=present,
                     force=bool(params.get("force")), wait_timeout=timeout)


# -- what registration reads ------------------------------------------------------------------------------------------

HUB, SPOKE = "hub", "spoke"


def hub_reads(name):
    """(kind, namespace, name) the spoke module GETs on the hub (besides a LIST of ManagedClusters)."""
    return (("Secret", HUB_NAMESPACE, BOOTSTRAP_TOKEN), ("Namespace", "", name),
            ("Secret", name, CONNECTION_SECRET))


def spoke_reads():
    """(kind, namespace, name) the spoke module GETs on the spoke (besides the manifests' objects and Nodes)."""
    return (("Namespace", "", "kube-system"), ("Namespace", "", SPOKE_NAMESPACE),
            ("ServiceAccount", SPOKE_NAMESPACE, HUB_IDENTITY), ("Secret", SPOKE_NAMESPACE, HUB_IDENTITY_TOKEN),
            ("ClusterRoleBinding", "", HUB_IDENTITY), ("Namespace", "", AGENT_NAMESPACE),
            ("Secret", AGENT_NAMESPACE, BOOTSTRAP_SECRET), ("Klusterlet", "", KLUSTERLET))


def hub_module_reads():
    """(kind, namespace, name) the hub module GETs (besides the manifests' objects)."""
    return (("Namespace", "", HUB_NAMESPACE), ("ServiceAccount", HUB_NAMESPACE, BOOTSTRAP_IDENTITY),
            ("Secret", HUB_NAMESPACE, BOOTSTRAP_TOKEN), ("ClusterRole", "", BOOTSTRAP_IDENTITY),
            ("ClusterRoleBinding", "", BOOTSTRAP_IDENTITY))


class Live(object):
    """The objects read, by (side, kind, namespace, name); None where the server said 404."""

    def __init__(self, objects=None):
        self.objects = dict(objects or {})

    def get(self, side, kind, name, namespace=""):
        return self.objects.get((side, kind, namespace or "", name))

    def with_object(self, side, kind, name, namespace, obj):
        objects = dict(self.objects)
        objects[(side, kind, namespace or "", name)] = obj
        return Live(objects)


# -- the manifests the collection ships (CRDs and RBAC), handed over as parsed documents -----------------------------

@dataclass(frozen=True)
class Manifests:
    crds: Tuple[dict, ...] = ()
    cluster_roles: Tuple[dict, ...] = ()
    bindings: Tuple[dict, ...] = ()

    @property
    def rbac(self):
        return self.cluster_roles + self.bindings


_MANIFEST_KINDS = {"CustomResourceDefinition": CRD_API, "ClusterRole": RBAC_API, "ClusterRoleBinding": RBAC_API}


def parse_manifests(documents, option="manifests"):
    """The collection's manifests (CustomResourceDefinitions, ClusterRoles, ClusterRoleBindings) -> Manifests;
    FabricError naming each document that is none of those."""
    errors, crds, roles, bindings = [], [], [], []
    for index, document in enumerate(documents or ()):
        where = "%s[%d]" % (option, index)
        if not isinstance(document, dict):
            errors.append("%s: expected a Kubernetes object (a mapping), got %s" % (where, type(document).__name__))
            continue
        kind, name = document.get("kind"), (document.get("metadata") or {}).get("name")
        if kind not in _MANIFEST_KINDS or document.get("apiVersion") != _MANIFEST_KINDS.get(kind) or not name:
            errors.append("%s: %s %s is not one of the collection's manifests (%s, each with metadata.name)" % (
                where, document.get("apiVersion"), kind, ", ".join(
                    "%s %s" % (api, known) for known, api in sorted(_MANIFEST_KINDS.items()))))
            continue
        {"CustomResourceDefinition": crds, "ClusterRole": roles, "ClusterRoleBinding": bindings}[kind].append(document)
    raise_if(errors)
    return Manifests(tuple(sorted(crds, key=_name)), tuple(sorted(roles, key=_name)),
                     tuple(sorted(bindings, key=_name)))


def _name(obj):
    return obj["metadata"]["name"]


def crd_kind(crd):
    """(group, kind, served versions) of a CustomResourceDefinition document."""
    spec = crd.get("spec") or {}
    versions = tuple(v.get("name") for v in spec.get("versions") or () if v.get("served", True))
    return spec.get("group"), (spec.get("names") or {}).get("kind"), versions


def parse_ocm_crds(documents):
    """The OCM CRDs a user names (the hub module's ocm_crds, read into documents) -> {kind: CRD}; FabricError for
    what is not a CRD of an OCM group."""
    errors, found = [], {}
    for index, document in enumerate(documents or ()):
        where = "ocm_crds[%d]" % index
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition" \
                or document.get("apiVersion") != CRD_API:
            errors.append("%s: expected a CustomResourceDefinition (%s), got %s" % (
                where, CRD_API, "%s %s" % (document.get("apiVersion"), document.get("kind"))
                if isinstance(document, dict) else type(document).__name__))
            continue
        group, kind, versions = crd_kind(document)
        if group not in OCM_GROUPS:
            errors.append("%s: %s is a CRD of group %s, not of Open Cluster Management (%s)" % (
                where, (document.get("metadata") or {}).get("name"), group, ", ".join(OCM_GROUPS)))
            continue
        found.setdefault(kind, document)
    raise_if(errors)
    return found


def missing_kind_errors(missing, where, offered=None):
    """The error for OCM kinds a cluster does not serve (none when nothing is missing)."""
    if not missing:
        return []
    wanted = ", ".join("%s (%s)" % (kind, OCM_KINDS[kind][0]) for kind in missing)
    if offered is not None:
        return ["the hub does not serve %s, and ocm_crds holds no CRD for %s; nothing was written. Add OCM's CRD "
                "file for each to ocm_crds, or install Open Cluster Management's cluster manager on the hub"
                % (wanted, "it" if len(missing) == 1 else "them")]
    return ["%s does not serve %s; nothing was written. Install Open Cluster Management there (its cluster manager "
            "on a hub, its klusterlet operator on a managed cluster), or give the hub module OCM's CRD files in "
            "ocm_crds" % (where, wanted)]


# -- the GPU inventory a spoke is labelled with -----------------------------------------------------------------------

@dataclass(frozen=True)
class Inventory:
    """What a spoke's Nodes hold: node count, Ready nodes, GPUs in all and by family (sorted by family)."""

    nodes: int = 0
    ready: int = 0
    gpus: int = 0
    families: Tuple[Tuple[str, int], ...] = ()

    def to_dict(self):
        return {"nodes": self.nodes, "ready_nodes": self.ready, "gpus": self.gpus,
                "gpu_families": [{"family": family, "count": count} for family, count in self.families]}


def gpu_inventory(nodes, prefix):
    """Inventory from Node objects: capacity nvidia.com/gpu by nvidia.com/gpu.product family, Ready from status."""
    families = {}
    ready = 0
    for node in nodes:
        host = host_from_node(node, prefix)
        ready += host.status == "Healthy"
        for group in host.gpus:
            families[group.family] = families.get(group.family, 0) + group.count
    return Inventory(len(nodes), ready, sum(families.values()), tuple(sorted(families.items())))


def inventory_labels(inventory, prefix):
    """({label: value}, {annotation: value}, warnings) the ManagedCluster carries for a spoke's GPU inventory:
    <prefix>/gpus (all GPUs), <prefix>/gpu-families (families joined by '.', while that fits a label value) and
    <prefix>/gpus-by-family (FAMILY=count,... as an annotation, which has no length limit)."""
    labels = {prefix + "/gpus": str(inventory.gpus)}
    annotations = {prefix + "/gpus-by-family": ",".join("%s=%d" % item for item in inventory.families)}
    warnings = []
    families = ".".join(family for family, unused in inventory.families)
    if families and not label_value_errors(families):
        labels[prefix + "/gpu-families"] = families
    elif families:
        warnings.append("the spoke's GPU families %s do not fit a label value (%d characters, at most %d, of "
                        "letters, digits, '-', '_' and '.'): %s/gpu-families is left off; the annotation "
                        "%s/gpus-by-family has them" % (families, len(families), LABEL_LIMIT, prefix, prefix))
    return labels, annotations, warnings


def spoke_gpus(managed_cluster, prefix):
    """{family: GPUs} a registered spoke reported at registration (its ManagedCluster's <prefix>/gpus-by-family);
    empty for a cluster gpufabric did not register."""
    text = (((managed_cluster or {}).get("metadata") or {}).get("annotations") or {}).get(prefix + "/gpus-by-family")
    counts = {}
    for item in (text or "").split(","):
        family, sep, count = item.rpartition("=")
        if sep and family and count.isdigit():
            counts[family] = counts.get(family, 0) + int(count)
    return counts


# -- objects -----------------------------------------------------------------------------------------------------------

def _meta(name, namespace=None, labels=None, annotations=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels or MANAGED_BY)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def claimed_namespace(name, live, spoke=None):
    """The Namespace as the platform declares it, or None when it exists and is not the platform's: then it is
    used as it is, and deregistration never deletes it."""
    if live is not None and not managed(live):
        return None
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name, labels=_labels(spoke))}


def service_account(name, namespace, spoke=None):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace, _labels(spoke))}


def token_secret(name, namespace, account, spoke=None):
    """A Secret the controller manager's token controller fills with the ServiceAccount's token and CA."""
    return {"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
            "metadata": _meta(name, namespace, _labels(spoke), {SERVICE_ACCOUNT_ANNOTATION: account})}


def secret(name, namespace, data, spoke=None):
    """An Opaque Secret; data: {key: text}, stored base64 as the server keeps it (so a rerun compares equal)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": _meta(name, namespace, _labels(spoke)),
            "data": dict((key, _b64(value)) for key, value in sorted(data.items()))}


def cluster_role_binding(name, role, account, namespace, spoke=None):
    return {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": _meta(name, labels=_labels(spoke)),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]}


def bootstrap_cluster_role():
    """What an OCM agent does with the bootstrap identity before its cluster is accepted, and nothing more: ask for
    a client certificate (certificate signing requests), create and read its ManagedCluster, join a cluster set."""
    rules = [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
              "verbs": ["create", "get", "list", "watch"]},
             {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclusters"],
              "verbs": ["get", "create"]},
             {"apiGroups": ["cluster.open-cluster-management.io"], "resources": ["managedclustersets/join"],
              "verbs": ["create"]}]
    return {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": _meta(BOOTSTRAP_IDENTITY), "rules": rules}


def kubeconfig_dict(cluster, server, ca, user, token):
    """A self-contained kubeconfig with one context: the CA inline (none: the system's trust store verifies the
    server) and a bearer token."""
    cluster_body = {"server": server}
    if ca:
        cluster_body["certificate-authority-data"] = _b64(ca)
    return {"apiVersion": "v1", "kind": "Config", "current-context": cluster,
            "clusters": [{"name": cluster, "cluster": cluster_body}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}]}


def kubeconfig(cluster, server, ca, user, token):
    """kubeconfig_dict as text: JSON (which every kubeconfig reader takes), keys sorted, the same bytes each run."""
    return json.dumps(kubeconfig_dict(cluster, server, ca, user, token), indent=2, sort_keys=True) + "\n"


def client_config(url, ca):
    config = {"url": url}
    if ca:
        config["caBundle"] = _b64(ca)
    return config


def managed_cluster(spec, facts, prefix):
    """(ManagedCluster, warnings): accepted by the hub, in its cluster set, labelled with its GPU inventory, and
    carrying the spoke's identity (its kube-system namespace uid)."""
    labels, annotations, warnings = inventory_labels(facts.inventory, prefix)
    labels.update(_labels(spec.name))
    labels[CLUSTERSET_LABEL] = spec.cluster_set
    annotations[UID_ANNOTATION] = facts.uid
    body = {"apiVersion": CLUSTER_API, "kind": "ManagedCluster",
            "metadata": _meta(spec.name, labels=dict(sorted(labels.items())),
                              annotations=dict(sorted(annotations.items()))),
            "spec": {"hubAcceptsClient": True, "managedClusterClientConfigs": [client_config(facts.url, facts.ca)]}}
    return body, warnings


def managed_cluster_set(name):
    return {"apiVersion": CLUSTER_SET_API, "kind": "ManagedClusterSet", "metadata": _meta(name),
            "spec": {"clusterSelector": {"selectorType": "ExclusiveClusterSetLabel"}}}


def klusterlet(spec, facts):
    body = {"clusterName": spec.name, "namespace": AGENT_NAMESPACE, "deployOption": {"mode": spec.mode},
            "externalServerURLs": [client_config(facts.url, facts.ca)]}
    body.update(dict(spec.images))
    return {"apiVersion": OPERATOR_API, "kind": "Klusterlet", "metadata": _meta(KLUSTERLET, labels=_labels(spec.name)),
            "spec": body}


# -- facts the kube layer gathers -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HubFacts:
    """The hub as a spoke's agent reaches it: URL, the CA that verifies it ("" when the system's trust store
    does), and the bootstrap identity's token."""

    url: str
    ca: str
    bootstrap_token: str


@dataclass(frozen=True)
class SpokeFacts:
    """The spoke as the module reached it: its identity (kube-system namespace uid), URL and CA, its GPU
    inventory, and the hub identity's token there ("" until the spoke's controller manager fills it in)."""

    uid: str
    url: str
    ca: str
    inventory: Inventory = Inventory()
    token: str = ""


def token_of(secret_obj):
    """The token a token controller put into a service-account token Secret ("" while it has not)."""
    data = (secret_obj or {}).get("data") or {}
    return base64.b64decode(data["token"]).decode("utf-8") if data.get("token") else ""


def kubeconfig_of(secret_obj):
    """The kubeconfig text of a Secret holding one under `kubeconfig` ("" when it holds none)."""
    data = (secret_obj or {}).get("data") or {}
    return base64.b64decode(data[KUBECONFIG_KEY]).decode("utf-8") if data.get(KUBECONFIG_KEY) else ""


# -- plans ------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegistrationPlan:
    """writes: in the order they are sent (Write.cluster: "" for the hub, the spoke's name for the spoke);
    wait_after: how many of them to send before waiting for CRDs and the token (the rest need them);
    report: what the module returns about the spoke."""

    writes: Tuple = ()
    wait_after: int = 0
    warnings: Tuple[str, ...] = ()
    report: dict = None

    def side(self, cluster):
        return [write for write in self.writes if write.cluster == cluster]


def duplicate_errors(spec, uid, managed_clusters):
    """The same cluster (by its kube-system uid) already registered under another name."""
    errors = []
    for other in managed_clusters:
        metadata = other.get("metadata") or {}
        if metadata.get("name") != spec.name and (metadata.get("annotations") or {}).get(UID_ANNOTATION) == uid:
            errors.append("spoke %s is the cluster already registered as %s (both have kube-system namespace uid "
                          "%s); nothing was written. A cluster is registered once: use the name %s, or deregister "
                          "%s first (state: absent)" % (spec.name, metadata["name"], uid, metadata["name"],
                                                        metadata["name"]))
    return errors


def deleting(obj):
    """Whether the server is deleting the object already (it carries a deletionTimestamp)."""
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def terminating_errors(name, live):
    """Namespaces registration writes into that are still being deleted (a deregistration just ran)."""
    errors = []
    for side, namespace in ((SPOKE, SPOKE_NAMESPACE), (SPOKE, AGENT_NAMESPACE), (HUB, name)):
        if deleting(live.get(side, "Namespace", namespace)):
            errors.append("namespace %s on the %s is still being deleted (the spoke was deregistered moments ago); "
                          "nothing was written. Run again once it is gone (a few seconds)"
                          % (namespace, "spoke %s" % name if side == SPOKE else "hub"))
    return errors


def _write(obj, live, cluster):
    return apply_write(obj, live, cluster) if obj is not None else None


def connection_secret(spec, facts):
    """The hub's Secret for reaching the spoke: a kubeconfig for the hub's identity on the spoke."""
    text = kubeconfig(spec.name, facts.url, facts.ca, HUB_IDENTITY, facts.token)
    return secret(CONNECTION_SECRET, spec.name, {KUBECONFIG_KEY: text}, spec.name)


def bootstrap_secret(spec, hub):
    text = kubeconfig("hub", hub.url, hub.ca, BOOTSTRAP_IDENTITY, hub.bootstrap_token)
    return secret(BOOTSTRAP_SECRET, AGENT_NAMESPACE, {KUBECONFIG_KEY: text}, spec.name)


def connection_write(spec, facts, live):
    """The connection Secret's write (None when the hub holds it already), once the token is known."""
    return _write(connection_secret(spec, facts), live.get(HUB, "Secret", CONNECTION_SECRET, spec.name), "")


def plan_registration(spec, hub, facts, live, managed_clusters, manifests, prefix, cluster_set=None):
    """Everything registering one spoke writes, on both sides, or FabricError (the same cluster under another
    name). cluster_set: the ManagedClusterSet as read (None: it does not exist and is created)."""
    name = spec.name
    raise_if(duplicate_errors(spec, facts.uid, managed_clusters) + terminating_errors(name, live))
    writes, warnings = [], []

    def add(obj, side, kind, obj_name, namespace=""):
        write = _write(obj, live.get(side, kind, obj_name, namespace), name if side == SPOKE else "")
        if write is not None:
            writes.append(write)

    # The spoke first: the CRDs and roles the platform uses there, and the hub's identity.
    for crd in manifests.crds:
        add(crd, SPOKE, "CustomResourceDefinition", crd["metadata"]["name"])
    for role in manifests.cluster_roles:
        add(role, SPOKE, "ClusterRole", role["metadata"]["name"])
    add(claimed_namespace(SPOKE_NAMESPACE, live.get(SPOKE, "Namespace", SPOKE_NAMESPACE), name), SPOKE, "Namespace",
        SPOKE_NAMESPACE)
    add(service_account(HUB_IDENTITY, SPOKE_NAMESPACE, name), SPOKE, "ServiceAccount", HUB_IDENTITY, SPOKE_NAMESPACE)
    add(token_secret(HUB_IDENTITY_TOKEN, SPOKE_NAMESPACE, HUB_IDENTITY, name), SPOKE, "Secret", HUB_IDENTITY_TOKEN,
        SPOKE_NAMESPACE)
    add(cluster_role_binding(HUB_IDENTITY, OPERATOR_ROLE, HUB_IDENTITY, SPOKE_NAMESPACE, name), SPOKE,
        "ClusterRoleBinding", HUB_IDENTITY)
    wait_after = len(writes)
    # The spoke's half of the double opt-in: the agent's namespace, the kubeconfig it joins with, the Klusterlet.
    add(claimed_namespace(AGENT_NAMESPACE, live.get(SPOKE, "Namespace", AGENT_NAMESPACE), name), SPOKE, "Namespace",
        AGENT_NAMESPACE)
    add(bootstrap_secret(spec, hub), SPOKE, "Secret", BOOTSTRAP_SECRET, AGENT_NAMESPACE)
    add(klusterlet(spec, facts), SPOKE, "Klusterlet", KLUSTERLET)
    # The hub's half: the cluster set when there is none, the accepted ManagedCluster, its namespace, the connection.
    if cluster_set is None:
        writes.append(apply_write(managed_cluster_set(spec.cluster_set), None, ""))
    add(claimed_namespace(name, live.get(HUB, "Namespace", name), name), HUB, "Namespace", name)
    cluster, more = managed_cluster(spec, facts, prefix)
    warnings += more
    add(cluster, HUB, "ManagedCluster", name)
    connection = connection_write(spec, facts, live)
    if connection is not None:
        writes.append(connection)
    report = {"name": name, "state": "present", "cluster_set": spec.cluster_set, "url": facts.url, "uid": facts.uid,
              "hub_url": hub.url, "inventory": facts.inventory.to_dict(),
              "labels": dict(sorted((k, v) for k, v in cluster["metadata"]["labels"].items())),
              "writes": writes_report(writes)}
    return RegistrationPlan(tuple(writes), wait_after, tuple(warnings), report)


def writes_report(writes):
    """{"hub": [keys], "spoke": [keys]}: what a run writes on each side, in order."""
    return {"hub": [w.key + ("" if w.action != DELETE else " (delete)") for w in writes if not w.cluster],
            "spoke": [w.key + ("" if w.action != DELETE else " (delete)") for w in writes if w.cluster]}


# -- deregistration ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Blockers:
    """What still uses a spoke: compute pools on the hub naming it, apps on it, ManifestWorks for it."""

    compute_pools: Tuple[str, ...] = ()
    apps: Tuple[str, ...] = ()
    works: Tuple[str, ...] = ()

    def __bool__(self):
        return bool(self.compute_pools or self.apps or self.works)

    def describe(self):
        parts = []
        for what, items in (("compute pool(s)", self.compute_pools), ("app(s)", self.apps),
                            ("ManifestWork(s)", self.works)):
            if items:
                shown = ", ".join(items[:5]) + (" and %d more" % (len(items) - 5) if len(items) > 5 else "")
                parts.append("%d %s (%s)" % (len(items), what, shown))
        return " and ".join(parts)


def blockers(name, compute_pools, workloads, works):
    """Blockers from the hub's ComputePools, the spoke's Deployments and Jobs, the hub's ManifestWorks in the
    spoke's namespace (each list as read; workloads None when the spoke could not be read)."""
    def key(obj, kind=None):
        meta = obj.get("metadata") or {}
        text = "%s/%s" % (meta.get("namespace"), meta.get("name")) if meta.get("namespace") else meta.get("name")
        return "%s %s" % (kind, text) if kind else text

    pools = sorted(key(pool) for pool in compute_pools if ((pool.get("spec") or {}).get("spoke") or "") == name)
    apps = sorted(key(obj, obj.get("kind")) for obj in workloads or ()
                  if APP_LABEL in ((obj.get("metadata") or {}).get("labels") or {}))
    return Blockers(tuple(pools), tuple(apps), tuple(sorted(key(work) for work in works)))


def plan_deregistration(spec, live, found, reachable=True, url=""):
    """Deleting what registration made (objects the platform labelled as its own), the spoke's side first, or
    FabricError while something still uses the spoke and force is off. CRDs, ClusterRoles, the cluster set and
    the hub's bootstrap identity stay: other spokes and the hub itself use them."""
    name = spec.name
    if found and not spec.force:
        raise FabricError(["spoke %s still has %s on it; nothing was written. Remove them first (state: absent), or "
                           "deregister with force: true, which leaves them as they are: compute pools keep naming "
                           "a spoke the hub no longer knows, workloads keep running on the cluster" % (
                               name, found.describe())])
    writes, left = [], []
    removed_namespaces = set()

    def delete(side, kind, obj_name, namespace=""):
        obj = live.get(side, kind, obj_name, namespace)
        if obj is None or deleting(obj) or (namespace and deleting(live.get(side, "Namespace", namespace))):
            return  # gone, or going already
        if not managed(obj):
            left.append("%s %s" % (side, "/".join([kind] + ([namespace] if namespace else []) + [obj_name])))
            return
        if namespace and (side, namespace) in removed_namespaces:
            return  # goes with its namespace
        writes.append(delete_write(obj, kind, name if side == SPOKE else ""))
        if kind == "Namespace":
            removed_namespaces.add((side, obj_name))

    if reachable:
        delete(SPOKE, "Klusterlet", KLUSTERLET)
        for namespace in (AGENT_NAMESPACE, SPOKE_NAMESPACE):
            delete(SPOKE, "Namespace", namespace)
        delete(SPOKE, "Secret", BOOTSTRAP_SECRET, AGENT_NAMESPACE)
        delete(SPOKE, "ClusterRoleBinding", HUB_IDENTITY)
        delete(SPOKE, "Secret", HUB_IDENTITY_TOKEN, SPOKE_NAMESPACE)
        delete(SPOKE, "ServiceAccount", HUB_IDENTITY, SPOKE_NAMESPACE)
    delete(HUB, "ManagedCluster", name)
    delete(HUB, "Namespace", name)
    delete(HUB, "Secret", CONNECTION_SECRET, name)
    warnings = []
    if not reachable:
        warnings.append("spoke %s at %s cannot be reached: its side (Klusterlet, %s Secret, namespaces %s and %s, "
                        "the hub's identity there) was left on it; remove them there once it is back, or run this "
                        "again then" % (name, url, BOOTSTRAP_SECRET, AGENT_NAMESPACE, SPOKE_NAMESPACE))
    if found:
        warnings.append("spoke %s deregistered with force while %s still use it; they were left as they are"
                        % (name, found.describe()))
    report = {"name": name, "state": "absent", "writes": writes_report(writes), "left": sorted(left),
              "blockers": {"compute_pools": list(found.compute_pools), "apps": list(found.apps),
                           "works": list(found.works)}}
    return RegistrationPlan(tuple(writes), 0, tuple(warnings), report)


# -- the hub ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HubPlan:
    """crd_writes are sent (and their CRDs waited for until Established) before the rest."""

    crd_writes: Tuple = ()
    writes: Tuple = ()
    report: dict = None

    @property
    def all_writes(self):
        return self.crd_writes + self.writes


def plan_hub(manifests, ocm_crds, served, live):
    """The hub's CRDs, OCM CRDs for the kinds it does not serve (only from ocm_crds: where OCM serves them,
    none is installed), the namespace of the bootstrap identity, the collection's RBAC and the bootstrap
    identity. served: the OCM kinds the hub serves. FabricError naming the kinds neither served nor offered."""
    missing = [kind for kind in HUB_KINDS if kind not in served]
    uncovered = [kind for kind in missing if kind not in ocm_crds]
    raise_if(missing_kind_errors(uncovered, "the hub", offered=ocm_crds))
    crd_writes, writes = [], []
    installed = [ocm_crds[kind] for kind in missing]
    for crd in tuple(manifests.crds) + tuple(sorted(installed, key=lambda obj: obj["metadata"]["name"])):
        write = apply_write(crd, live.get(HUB, "CustomResourceDefinition", crd["metadata"]["name"]))
        if write is not None:
            crd_writes.append(write)

    def add(obj, kind, name, namespace=""):
        if obj is None:
            return
        write = apply_write(obj, live.get(HUB, kind, name, namespace))
        if write is not None:
            writes.append(write)

    add(claimed_namespace(HUB_NAMESPACE, live.get(HUB, "Namespace", HUB_NAMESPACE)), "Namespace", HUB_NAMESPACE)
    for obj in manifests.rbac:
        add(obj, obj["kind"], obj["metadata"]["name"])
    add(service_account(BOOTSTRAP_IDENTITY, HUB_NAMESPACE), "ServiceAccount", BOOTSTRAP_IDENTITY, HUB_NAMESPACE)
    add(token_secret(BOOTSTRAP_TOKEN, HUB_NAMESPACE, BOOTSTRAP_IDENTITY), "Secret", BOOTSTRAP_TOKEN, HUB_NAMESPACE)
    add(bootstrap_cluster_role(), "ClusterRole", BOOTSTRAP_IDENTITY)
    add(cluster_role_binding(BOOTSTRAP_IDENTITY, BOOTSTRAP_IDENTITY, BOOTSTRAP_IDENTITY, HUB_NAMESPACE),
        "ClusterRoleBinding", BOOTSTRAP_IDENTITY)
    report = {"crds": [crd["metadata"]["name"] for crd in manifests.crds],
              "ocm": {"served": sorted(kind for kind in HUB_KINDS if kind in served),
                      "installed": sorted(crd["metadata"]["name"] for crd in installed)},
              "bootstrap_identity": "system:serviceaccount:%s:%s" % (HUB_NAMESPACE, BOOTSTRAP_IDENTITY),
              "writes": [write.key for write in crd_writes + writes]}
    return HubPlan(tuple(crd_writes), tuple(writes), report)


# -- diffs ------------------------------------------------------------------------------------------------------------

def hide_secrets(obj):
    """A Secret's values replaced by (hidden), for diffs; other objects as they are."""
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    shown = dict(obj)
    for key in ("data", "stringData"):
        if isinstance(shown.get(key), dict):
            shown[key] = dict((item, HIDDEN) for item in sorted(shown[key]))
    return shown


# -- spoke_info -------------------------------------------------------------------------------------------------------

def spoke_row(cluster, prefix, reached=None, error="", compute_pools=(), apps=()):
    """One spoke as spoke_info lists it (stable keys, lists of objects for JMESPath). reached: {"version",
    "inventory"} when the spoke answered, None when it did not (error says why)."""
    meta = cluster.get("metadata") or {}
    spec = cluster.get("spec") or {}
    labels = meta.get("labels") or {}
    configs = spec.get("managedClusterClientConfigs") or [{}]
    row = {"name": meta.get("name"), "cluster_set": labels.get(CLUSTERSET_LABEL, ""),
           "accepted": bool(spec.get("hubAcceptsClient")), "url": configs[0].get("url", ""),
           "uid": (meta.get("annotations") or {}).get(UID_ANNOTATION, ""),
           "reachable": reached is not None, "error": error, "kubernetes_version": "",
           "nodes": 0, "ready_nodes": 0, "gpus": 0, "gpu_families": [],
           "labelled_gpus": int(labels.get(prefix + "/gpus", "")) if labels.get(prefix + "/gpus", "").isdigit() else 0,
           "compute_pools": [dict(item) for item in compute_pools], "apps": [dict(item) for item in apps]}
    if reached is not None:
        row["kubernetes_version"] = reached.get("version", "")
        row.update(reached["inventory"].to_dict())
    return row
