"""An in-memory stand-in for the API server, for planner tests only: it applies a plan's writes the way
kube-apiserver treats them, so a test can plan, apply and plan again without a server.

- apply: server-side apply by the one field manager gpufabric uses: the stored object is the body sent, plus the
  status already stored and the metadata the server keeps (uid, creationTimestamp, resourceVersion);
- status: the status subresource replaces .status (the object must exist);
- labels: a merge patch of a Node's labels, a value of None removes the key (the Node must exist);
- delete: the object goes; deleting a Namespace takes every object in it along.

Like the real server it refuses a namespaced object whose Namespace does not exist, and a status, label or
delete request for an object that does not exist, so a plan whose writes come in the wrong order fails here.
Every LIST returns objects in key order, as etcd does.
"""

from __future__ import annotations

import copy

from ansible_collections.gpufabric.platform.plugins.module_utils.core.state import LISTS, ClusterState


class NotFound(AssertionError):
    """What the server answers with 404."""


def cluster(nodes=(), **kinds):
    """A ClusterState in which every kind a plan may read was listed: `nodes`, and {Kind: [objects]}."""
    lists = dict((kind, []) for kind in LISTS)
    lists["Node"] = list(nodes)
    for kind, items in kinds.items():
        lists[kind] = list(items)
    objects = {}
    for kind, items in lists.items():
        objects[kind] = dict(sorted(((_key(obj), copy.deepcopy(obj)) for obj in items), key=lambda item: item[0]))
    return ClusterState(objects, tuple(sorted(lists)))


def _key(obj):
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or "", metadata["name"]


def objects_of(state, kind):
    """The objects of a kind, as a LIST returns them."""
    return [copy.deepcopy(obj) for obj in state.items(kind)]


def fake_apply(state, writes):
    """The ClusterState once the server has processed `writes` in order (the input state is not changed)."""
    objects = copy.deepcopy(dict(state.objects))
    version = max([int(obj["metadata"].get("resourceVersion") or 0)
                   for items in objects.values() for obj in items.values()] or [0])
    for write in writes:
        version += 1
        store = objects.setdefault(write.kind, {})
        key = (write.namespace or "", write.name)
        if write.action == "apply":
            if write.namespace and ("", write.namespace) not in objects.get("Namespace", {}):
                raise NotFound("%s: namespace %s not found" % (write.key, write.namespace))
            old = store.get(key)
            stored = copy.deepcopy(write.body)
            metadata = stored.setdefault("metadata", {})
            if old is not None:
                for field in ("uid", "creationTimestamp"):
                    metadata[field] = old["metadata"][field]
                if "status" in old:
                    stored["status"] = copy.deepcopy(old["status"])
            else:
                metadata["uid"] = "uid-%s-%d" % (write.name, version)
                metadata["creationTimestamp"] = "2024-01-15T10:30:00Z"
                if write.kind == "Namespace":
                    metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = write.name
                    stored["status"] = {"phase": "Active"}
            metadata["resourceVersion"] = str(version)
            store[key] = stored
        elif write.action == "status":
            if key not in store:
                raise NotFound("%s: %s %s not found" % (write.key, write.kind, write.name))
            store[key]["status"] = copy.deepcopy(write.body["status"])
            store[key]["metadata"]["resourceVersion"] = str(version)
        elif write.action == "labels":
            if key not in store:
                raise NotFound("%s: node %s not found" % (write.key, write.name))
            labels = store[key]["metadata"].setdefault("labels", {})
            for label, value in write.body.items():
                if value is None:
                    labels.pop(label, None)
                else:
                    labels[label] = value
            store[key]["metadata"]["resourceVersion"] = str(version)
        elif write.action == "delete":
            if key not in store:
                raise NotFound("%s: %s %s not found" % (write.key, write.kind, write.name))
            del store[key]
            if write.kind == "Namespace":
                for items in objects.values():
                    for inner in [k for k in items if k[0] == write.name]:
                        del items[inner]
        else:
            raise ValueError("unknown action %r" % write.action)
        objects[write.kind] = dict(sorted(store.items(), key=lambda item: item[0]))
    return ClusterState(objects, state.read)
