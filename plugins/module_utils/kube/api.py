# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""One API server: requests (with throttling and the server's warnings handled), GET and LIST.

Objects travel as plain dicts (the JSON the server speaks), never as generated client models: the core renders
dicts, and decoding 1,000 Nodes into models costs more than the request. What to write is the core's decision
(core.writes); kube.send sends it, and kube.reader reads what a plan starts from.
"""

from __future__ import annotations

import json
import re
import threading
import time

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover
    from urllib import urlencode

FIELD_MANAGER = "gpufabric"
PATCH_THREADS = 8  # concurrent label patches; the connection pool holds as many connections
REQUEST_TIMEOUT = 60  # seconds; a LIST of 100,000 nodes is well inside it
THROTTLE_RETRIES = 5  # times a request the server asked to wait for (429, Retry-After) is sent again
MAX_RETRY_AFTER = 10  # seconds; a longer Retry-After is cut to this

# kind -> (apiVersion, plural, namespaced). A fixed table instead of discovery: one request less per run,
# and the collection only manages these kinds.
RESOURCES = {
    "Node": ("v1", "nodes", False),
    "Pod": ("v1", "pods", True),
    "Namespace": ("v1", "namespaces", False),
    "ResourceQuota": ("v1", "resourcequotas", True),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Deployment": ("apps/v1", "deployments", True),
    "Job": ("batch/v1", "jobs", True),
    "Pool": ("gpufabric.io/v1alpha1", "pools", False),
    "ComputePool": ("gpufabric.io/v1alpha1", "computepools", True),
    "ScalingPolicy": ("gpufabric.io/v1alpha1", "scalingpolicies", True),
    "Tenant": ("gpufabric.io/v1alpha1", "tenants", False),
    "EdgeHost": ("gpufabric.io/v1alpha1", "edgehosts", False),
    "ManifestWork": ("work.open-cluster-management.io/v1", "manifestworks", True),
    # The hub and its spokes: the Secrets the collection keeps (read by name only), identities, CRDs, and the other
    # Open Cluster Management kinds registration writes (core.registration.OCM_KINDS lists all four).
    "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "ManagedCluster": ("cluster.open-cluster-management.io/v1", "managedclusters", False),
    "ManagedClusterSet": ("cluster.open-cluster-management.io/v1beta2", "managedclustersets", False),
    "Klusterlet": ("operator.open-cluster-management.io/v1", "klusterlets", False),
}


class KubeError(Exception):
    """An API request failed; `status` is the HTTP code, the message is the server's own words."""

    def __init__(self, message, status=None):
        super(KubeError, self).__init__(message)
        self.status = status


def path_for(kind, name=None, namespace=None, subresource=None):
    api_version, plural, namespaced = RESOURCES[kind]
    base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    parts = [base]
    if namespaced and namespace:
        parts.append("namespaces/" + namespace)
    parts.append(plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Cluster(object):
    """One API server, reached through a client.Connection."""

    def __init__(self, connection):
        self.connection = connection
        self._warnings = []  # the server's Warning headers, each once, in the order they came
        self._throttled = []  # (method, path, seconds waited) per request the server asked to wait
        self._lock = threading.Lock()

    @property
    def warnings(self):
        """What the user should hear about: the server's warnings, then one line on throttling if it happened."""
        with self._lock:
            messages = list(self._warnings)
            throttled = list(self._throttled)
        if throttled:
            method, path, _waited = throttled[0]
            messages.append("the API server at %s asked %d time(s) to slow down (HTTP 429 or Retry-After), first "
                            "for %s %s; gpufabric waited %s s in all, as Retry-After asked, and retried"
                            % (self.connection.host, len(throttled), method, path,
                               _seconds(sum(waited for _m, _p, waited in throttled))))
        return messages

    # -- transport -----------------------------------------------------------------------------------------

    def request(self, method, path, body=None, query=None, content_type=None):
        """Send one request; return the decoded JSON body (None for 404 on GET).

        A 429, or a 5xx with Retry-After, is sent again after the wait the server asks for (at most
        MAX_RETRY_AFTER seconds, THROTTLE_RETRIES times), as client-go does: the server has not acted on it.
        """
        from urllib3._collections import HTTPHeaderDict

        connection = self.connection
        url = connection.host + path
        if query:
            url += "?" + urlencode(sorted(query.items()))
        if body is not None:
            # JSON is YAML, but the apiserver's YAML decoder reads `"key":""` as null: keep the spaces.
            body = json.dumps(body, separators=(", ", ": ")).encode("utf-8")
        for attempt in range(THROTTLE_RETRIES + 1):
            headers = HTTPHeaderDict({"Accept": "application/json"})
            headers.extend(connection.headers())  # per attempt: a plugin's token may be refreshed
            if body is not None:
                headers["Content-Type"] = content_type or "application/json"
            try:
                response = connection.pool.request(method, url, body=body, headers=headers,
                                                   retries=connection.retries, timeout=REQUEST_TIMEOUT)
            except Exception as error:  # urllib3: connection refused, TLS verification, proxy, timeouts
                raise KubeError(_unreachable(connection, error))
            self._note_warnings(response.headers.getlist("Warning"))
            wait = _retry_after(response)
            if wait is None:
                break
            if attempt == THROTTLE_RETRIES:
                raise KubeError("the API server at %s still refused %s %s with HTTP %d after %d retries as "
                                "Retry-After asked; it is overloaded, or its priority and fairness limits are too "
                                "low for this run: try again later or with fewer forks"
                                % (connection.host, method, path, response.status, THROTTLE_RETRIES),
                                response.status)
            with self._lock:
                self._throttled.append((method, path, wait))
            time.sleep(wait)
        status, data = response.status, response.data
        if status == 404 and method == "GET":
            return None
        if status >= 400:
            raise KubeError(_server_message(status, data, connection), status)
        return json.loads(data) if data else None

    def _note_warnings(self, values):
        for value in values:
            message = _warning_text(value)
            with self._lock:
                if message and message not in self._warnings:
                    self._warnings.append(message)

    # -- reads ---------------------------------------------------------------------------------------------

    def get(self, kind, name, namespace=None):
        return self.request("GET", path_for(kind, name, namespace))

    def list(self, kind, namespace=None, label_selector=None, field_selector=None):
        """All items of a kind (one request; the server sends kind and apiVersion only on the list)."""
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        result = self.request("GET", path_for(kind, namespace=namespace), query=query) or {}
        return result.get("items") or []


def _server_message(status, data, connection=None):
    """The server's own message and code; for 401 and 403 also whose credentials were refused and what to check."""
    try:
        message = json.loads(data).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    if message is None and isinstance(data, bytes):
        message = data.decode("utf-8", "replace").strip()
    text = "%s (HTTP %s)" % (message or "request failed", status)
    if connection is not None and status == 401:
        text += "; the API server at %s did not accept the credentials of %s: %s" % (
            connection.host, connection.identity, connection.advice)
    elif connection is not None and status == 403:
        text += ("; the request was made as %s: check the role bindings of that identity (the modules need what "
                 "the gpufabric-operator ClusterRole in manifests/rbac grants), or choose another context"
                 % connection.identity)
    return text


def _unreachable(connection, error):
    text = "cannot reach the API server at %s" % connection.host
    if connection.proxy:
        text += " through proxy %s" % connection.proxy
    text += ": %s" % error
    if "CERTIFICATE_VERIFY_FAILED" in str(error) or "doesn't match" in str(error) or "Hostname mismatch" in str(error):
        text += ("; check the CA (ca_cert, or certificate-authority in the kubeconfig) and the name the certificate "
                 "must carry (the host, or tls-server-name in the kubeconfig)")
    return text


def _retry_after(response):
    """Seconds to wait before sending again, or None when the response is an answer to keep."""
    status = response.status
    value = response.headers.get("Retry-After")
    if status != 429 and not (status >= 500 and value is not None):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):  # absent, or an HTTP date: wait the usual second
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _warning_text(value):
    """The text of a Warning header (RFC 7234: `299 - "text"`), unquoted; the raw value if it has another form."""
    match = re.match(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"', value)
    if not match:
        return value.strip()
    return re.sub(r"\\(.)", r"\1", match.group(1))


def _seconds(value):
    return ("%.1f" % value).rstrip("0").rstrip(".")
