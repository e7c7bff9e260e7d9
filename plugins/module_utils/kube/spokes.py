# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Spokes as the kube layer reaches them: through the connection options a task gives, or through the connection
the hub keeps for a registered spoke (its `gpufabric-spoke-connection` Secret); and the reads registration needs on
either side (objects by name, the API kinds a server serves, CRDs becoming Established, token Secrets filled in).

Every failure on a spoke names the spoke and its URL, so a run over many spokes says which one failed.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import (
    CONNECTION_SECRET, HUB_IDENTITY, SPOKE_NAMESPACE, kubeconfig_of, token_of)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import (
    PATCH_THREADS, RESOURCES, Cluster, KubeError)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AuthError, connect

POLL = 0.2  # seconds between looks at a CRD's conditions or a token Secret


class SpokeCluster(Cluster):
    """A spoke's API server: a Cluster whose every failure names the spoke and the URL it was reached at."""

    def __init__(self, connection, name):
        super(SpokeCluster, self).__init__(connection)
        self.name = name

    def request(self, method, path, body=None, query=None, content_type=None):
        try:
            return super(SpokeCluster, self).request(method, path, body, query, content_type)
        except KubeError as error:
            text, host = str(error), self.connection.host
            if text.startswith("spoke "):
                raise
            unreachable = "cannot reach the API server at %s" % host
            if text.startswith(unreachable):
                text = "spoke %s cannot be reached at %s%s" % (self.name, host, text[len(unreachable):])
            else:
                text = "spoke %s at %s: %s" % (self.name, host, text)
            raise KubeError(text, error.status)


def connect_spoke(name, options):
    """A SpokeCluster from a task's connection options for the spoke (the `cluster` sub-dict); KubeError naming
    the spoke when the options give no usable connection (a missing or unreadable kubeconfig, say)."""
    try:
        connection = connect(options)
    except AuthError as error:
        raise KubeError("spoke %s: %s" % (name, error))
    return SpokeCluster(connection, name)


def open_spoke(hub, name, probe=True):
    """The Cluster of a registered spoke, through the connection the hub keeps for it: the kubeconfig in Secret
    <name>/gpufabric-spoke-connection on the hub (the hub's own identity on the spoke). With `probe`, one GET of
    /version proves it answers. KubeError naming the spoke (and its URL once known) when the Secret cannot be read
    or holds no usable kubeconfig, or the spoke cannot be reached."""
    try:
        secret = hub.get("Secret", CONNECTION_SECRET, name)
    except KubeError as error:
        raise KubeError("spoke %s: cannot read its connection, Secret %s/%s on the hub: %s"
                        % (name, name, CONNECTION_SECRET, error), error.status)
    if secret is None:
        raise KubeError("spoke %s is not registered on the hub at %s (it has no Secret %s/%s); register it with "
                        "gpufabric.platform.spoke" % (name, hub.connection.host, name, CONNECTION_SECRET), 404)
    try:
        config = json.loads(kubeconfig_of(secret) or "null")
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise KubeError("spoke %s: Secret %s/%s on the hub holds no kubeconfig under `kubeconfig`; register the spoke "
                        "again with gpufabric.platform.spoke to rewrite it" % (name, name, CONNECTION_SECRET))
    url = ((config.get("clusters") or [{}])[0].get("cluster") or {}).get("server", "")
    try:
        connection = connect({"kubeconfig": config})
    except AuthError as error:
        raise KubeError("spoke %s at %s: the kubeconfig in Secret %s/%s on the hub is not usable: %s; register the "
                        "spoke again to rewrite it" % (name, url, name, CONNECTION_SECRET, error))
    connection.identity = ("the hub's identity on spoke %s (ServiceAccount %s/%s, from Secret %s/%s on the hub)"
                           % (name, SPOKE_NAMESPACE, HUB_IDENTITY, name, CONNECTION_SECRET))
    cluster = SpokeCluster(connection, name)
    if probe:
        version(cluster)
    return cluster


def version(cluster):
    """The server's Kubernetes version (gitVersion), one GET of /version."""
    return (cluster.request("GET", "/version") or {}).get("gitVersion", "")


def ca_text(connection, what):
    """The PEM text of the CA a connection verifies its server with ("" when the system's trust store does).
    KubeError when verification is off: the kubeconfigs registration writes always verify."""
    if not connection.verify:
        raise KubeError("%s at %s is reached with certificate verification off (validate_certs: false); the "
                        "kubeconfigs registration writes must verify it: give its CA (ca_cert, or "
                        "certificate-authority in the kubeconfig) and leave validate_certs on"
                        % (what, connection.host))
    if not connection.ca_file:
        return ""
    try:
        with open(connection.ca_file) as handle:
            return handle.read()
    except (IOError, OSError) as error:
        raise KubeError("%s: cannot read its CA file %s: %s" % (what, connection.ca_file, error))


def get_objects(cluster, keys):
    """{(kind, namespace, name): object or None} for each key, the GETs sent side by side."""
    keys = list(keys)
    if not keys:
        return {}

    def get(key):
        kind, namespace, name = key
        obj = cluster.get(kind, name, namespace or None)
        if obj is not None:
            obj.setdefault("kind", kind)
            obj.setdefault("apiVersion", RESOURCES[kind][0])
        return obj

    with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(keys))) as pool:
        return dict(zip(keys, pool.map(get, keys)))


def served_kinds(cluster, kinds):
    """The kinds among `kinds` the server serves at the version the collection speaks (discovery, one GET per
    group-version)."""
    versions = sorted(set(RESOURCES[kind][0] for kind in kinds))

    def discover(api_version):
        document = cluster.request("GET", "/apis/" + api_version) or {}
        return api_version, set(item.get("kind") for item in document.get("resources") or ()
                                if "/" not in (item.get("name") or ""))

    with ThreadPoolExecutor(max_workers=min(PATCH_THREADS, len(versions))) as pool:
        found = dict(pool.map(discover, versions))
    return set(kind for kind in kinds if kind in found[RESOURCES[kind][0]])


def _established(crd):
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in ((crd or {}).get("status") or {}).get("conditions") or ())


def wait_established(cluster, names, timeout, where):
    """Wait until each CRD in `names` is Established (its kind is served); KubeError naming those that are not
    after `timeout` seconds, with their conditions."""
    deadline = time.monotonic() + timeout
    pending = sorted(names)
    while pending:
        crds = get_objects(cluster, [("CustomResourceDefinition", "", name) for name in pending])
        pending = [name for name in pending if not _established(crds[("CustomResourceDefinition", "", name)])]
        if not pending:
            return
        if time.monotonic() > deadline:
            states = ["%s (%s)" % (name, "; ".join(
                "%s=%s %s" % (c.get("type"), c.get("status"), c.get("message") or "")
                for c in ((crds[("CustomResourceDefinition", "", name)] or {}).get("status") or {}).get(
                    "conditions") or ()) or "no conditions yet") for name in pending]
            raise KubeError("%s: CRD(s) not Established after %d s: %s; the CRDs were written, but nothing that "
                            "uses them was: run again once the API server serves them" % (
                                where, timeout, ", ".join(states)))
        time.sleep(POLL)


def wait_token(cluster, namespace, name, timeout, where):
    """The token a service-account token Secret holds, once the controller manager's token controller has filled
    it in; KubeError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        token = token_of(cluster.get("Secret", name, namespace))
        if token:
            return token
        if time.monotonic() > deadline:
            raise KubeError("%s: Secret %s/%s has no token after %d s; the controller manager's token controller "
                            "fills it in (it needs --service-account-private-key-file): check that the controller "
                            "manager runs, then run again" % (where, namespace, name, timeout))
        time.sleep(POLL)
