"""One item declared as its pulumi_kubernetes resource: the typed class of a built-in kind (fields passed through
as the core rendered them), CustomResource for the gpufabric.io and Open Cluster Management kinds, NodePatch for a
Node's labels."""

from __future__ import annotations

import re
from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

SKIP_AWAIT = "pulumi.com/skipAwait"

TYPED = {
    ("v1", "Namespace"): kubernetes.core.v1.Namespace,
    ("v1", "ResourceQuota"): kubernetes.core.v1.ResourceQuota,
    ("v1", "ServiceAccount"): kubernetes.core.v1.ServiceAccount,
    ("v1", "Secret"): kubernetes.core.v1.Secret,
    ("rbac.authorization.k8s.io/v1", "Role"): kubernetes.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): kubernetes.rbac.v1.RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): kubernetes.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): kubernetes.rbac.v1.ClusterRoleBinding,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): kubernetes.apiextensions.v1.CustomResourceDefinition,
    ("apps/v1", "Deployment"): kubernetes.apps.v1.Deployment,
    ("batch/v1", "Job"): kubernetes.batch.v1.Job,
}
ENVELOPE = ("apiVersion", "kind", "metadata")
# Workloads are written and left to the scheduler, as the app_deployment module leaves them; the provider would
# otherwise wait for a Deployment's rollout or a Job's completion before the run ends.
NO_AWAIT = ("Deployment", "Job")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def metadata_of(obj: dict) -> dict:
    metadata = dict(obj["metadata"])
    if obj["kind"] in NO_AWAIT:
        metadata["annotations"] = dict(metadata.get("annotations") or {}, **{SKIP_AWAIT: "true"})
    return metadata


def declare(item, opts: pulumi.ResourceOptions, data: Optional[pulumi.Output] = None) -> pulumi.CustomResource:
    """The resource for one item. `data` replaces a Secret's data with an output (a kubeconfig holding a token
    the cluster issues during the run). A top-level field the typed class does not know fails loudly, so a field
    the core starts rendering is never dropped."""
    obj = item.obj
    if item.patch:
        return kubernetes.core.v1.NodePatch(item.name, metadata={"name": obj["metadata"]["name"],
                                                                 "labels": obj["metadata"]["labels"]}, opts=opts)
    fields = dict((key, value) for key, value in obj.items() if key not in ENVELOPE)
    if data is not None:
        fields["data"] = data
    cls = TYPED.get((obj["apiVersion"], obj["kind"]))
    if cls is None:
        return kubernetes.apiextensions.CustomResource(item.name, api_version=obj["apiVersion"], kind=obj["kind"],
                                                       metadata=metadata_of(obj), opts=opts, **fields)
    return cls(item.name, metadata=metadata_of(obj), opts=opts,
               **dict((snake(key), value) for key, value in fields.items()))
