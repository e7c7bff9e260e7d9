"""A rendered object (the core's plain dict, exactly what the Ansible modules apply) declared as the matching
typed pulumi_kubernetes resource, fields passed through unchanged."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as kubernetes

# kind -> (resource class, {top-level field of the rendered dict: keyword argument of the class})
TYPED = {
    ("v1", "Namespace"): (kubernetes.core.v1.Namespace, {}),
    ("v1", "ResourceQuota"): (kubernetes.core.v1.ResourceQuota, {"spec": "spec"}),
    ("rbac.authorization.k8s.io/v1", "Role"): (kubernetes.rbac.v1.Role, {"rules": "rules"}),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (kubernetes.rbac.v1.RoleBinding,
                                                      {"roleRef": "role_ref", "subjects": "subjects"}),
}
ENVELOPE = ("apiVersion", "kind", "metadata")


def resource_name(obj):
    """`namespace/name` or `name`, as pulumi_kubernetes.yaml names objects: unique per kind in the stack."""
    meta = obj["metadata"]
    return "%s/%s" % (meta["namespace"], meta["name"]) if meta.get("namespace") else meta["name"]


def declare(obj, opts, fields=None):
    """Declare one rendered object. Typed classes for core kinds; the gpufabric.io kinds as CustomResource.

    fields: the top-level fields to declare besides the envelope (default: all of them). A field the mapping
    does not know raises, so a field the core starts rendering can never be dropped silently.
    """
    fields = [key for key in obj if key not in ENVELOPE] if fields is None else list(fields)
    typed = TYPED.get((obj["apiVersion"], obj["kind"]))
    if typed is None:
        kwargs = dict((key, obj[key]) for key in fields)
        return kubernetes.apiextensions.CustomResource(resource_name(obj), api_version=obj["apiVersion"],
                                                       kind=obj["kind"], metadata=obj["metadata"], opts=opts,
                                                       **kwargs)
    cls, mapping = typed
    unknown = sorted(key for key in fields if key not in mapping)
    if unknown:
        raise ValueError("%s %s: no mapping for field(s) %s" % (obj["kind"], resource_name(obj), ", ".join(unknown)))
    kwargs = dict((mapping[key], obj[key]) for key in fields)
    return cls(resource_name(obj), metadata=obj["metadata"], opts=opts, **kwargs)


def child_options(parent, depends_on=()):
    """Children are parented to their component (providers are inherited from it)."""
    return pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
