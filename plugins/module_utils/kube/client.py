# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reach the API server from the connection options every gpufabric module shares.

The option names and their K8S_AUTH_* environment variables are those of kubernetes.core, so a play that
already talks to a cluster with kubernetes.core can set the same values once for both collections.

A kubeconfig with static credentials (token, token file, client certificate) or an explicit host and api_key is
read here directly: importing the kubernetes client costs about half a second per task, more than a converged
run's requests. Kubeconfig users with an exec or auth-provider plugin go through the kubernetes library, which
implements those plugins and refreshes their tokens.
"""

from __future__ import annotations

import atexit
import base64
import os
import tempfile

AUTH_ENV = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
}
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
POOL_SIZE = 8  # the modules send node patches 8 at a time


class AuthError(Exception):
    """The connection options do not give a usable connection; the message says which option to fix."""


def _env_bool(value):
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def resolve_auth(params, environ=None):
    """Option values, each falling back to its K8S_AUTH_* variable when not given."""
    environ = os.environ if environ is None else environ
    resolved = {}
    for option, variable in AUTH_ENV.items():
        value = params.get(option)
        if value is None and environ.get(variable) not in (None, ""):
            value = environ[variable]
            if option == "validate_certs":
                value = _env_bool(value)
        resolved[option] = value
    if resolved["validate_certs"] is None:
        resolved["validate_certs"] = True
    return resolved


class Connection(object):
    """Base URL, credentials and a pool of TLS connections to one API server."""

    def __init__(self, host, token=None, ca_file=None, ca_data=None, cert_file=None, key_file=None, verify=True,
                 token_source=None):
        import urllib3

        self.host = host.rstrip("/")
        self._token = token
        self._token_source = token_source  # a callable giving a fresh token (kubernetes library plugins)
        tls = {"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
        if verify and ca_file:
            tls["ca_certs"] = ca_file
        if verify and ca_data:
            tls["ca_cert_data"] = ca_data
        if cert_file:
            tls["cert_file"], tls["key_file"] = cert_file, key_file
        if not verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.pool = urllib3.PoolManager(maxsize=POOL_SIZE, **tls)
        # A kept-alive connection the server has closed fails on reuse; resending is safe because every write
        # gpufabric sends is idempotent (server-side apply, label merge patch, delete that accepts 404).
        self.retries = urllib3.Retry(total=3, connect=3, read=2, status=0, other=0, redirect=0,
                                     allowed_methods=None, backoff_factor=0.2, raise_on_status=False)

    def headers(self):
        token = self._token_source() if self._token_source else self._token
        return {"Authorization": "Bearer " + token} if token else {}


def connect(params, environ=None):
    """A Connection for these options: host + api_key, a kubeconfig (and context), or the pod's service account."""
    environ = os.environ if environ is None else environ
    auth = resolve_auth(params, environ)
    verify = bool(auth["validate_certs"])
    ca_file = os.path.expanduser(auth["ca_cert"]) if auth["ca_cert"] else None
    if auth["host"] and auth["api_key"]:
        return Connection(auth["host"], token=auth["api_key"], ca_file=ca_file, verify=verify)
    path = _kubeconfig_path(auth["kubeconfig"], environ)
    if path is None:
        if auth["context"]:
            raise AuthError("context %s given but no kubeconfig found; set the kubeconfig option or "
                            "K8S_AUTH_KUBECONFIG" % auth["context"])
        return _in_cluster(auth, environ, verify)
    cluster, user = _kubeconfig_entry(path, auth["context"])
    if any(key in user for key in ("exec", "auth-provider", "username")):
        return _through_library(path, auth, verify, ca_file)
    base = os.path.dirname(path)
    token = auth["api_key"] or user.get("token") or _read(_relative(base, user.get("tokenFile")))
    return Connection(
        auth["host"] or cluster.get("server") or _missing("server", path),
        token=token,
        ca_file=ca_file or _relative(base, cluster.get("certificate-authority")),
        ca_data=None if ca_file else _decode(cluster.get("certificate-authority-data")),
        cert_file=_relative(base, user.get("client-certificate")) or _temp(user.get("client-certificate-data")),
        key_file=_relative(base, user.get("client-key")) or _temp(user.get("client-key-data")),
        verify=verify and not cluster.get("insecure-skip-tls-verify", False),
    )


def _kubeconfig_path(option, environ):
    if option:
        path = os.path.expanduser(option)
        if not os.path.exists(path):
            raise AuthError("kubeconfig %s does not exist; set the kubeconfig option or K8S_AUTH_KUBECONFIG" % path)
        return path
    for candidate in (environ.get("KUBECONFIG") or "").split(os.pathsep) + ["~/.kube/config"]:
        if candidate and os.path.exists(os.path.expanduser(candidate)):
            return os.path.expanduser(candidate)
    return None


def _kubeconfig_entry(path, context):
    """(cluster, user) mappings of the chosen context."""
    import yaml

    try:
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
    except (IOError, OSError, yaml.YAMLError) as error:
        raise AuthError("cannot read kubeconfig %s: %s" % (path, error))

    def named(section, name):
        for entry in config.get(section) or ():
            if entry.get("name") == name:
                return entry.get(section[:-1]) or {}
        raise AuthError("kubeconfig %s has no %s named %s" % (path, section[:-1], name))

    context = context or config.get("current-context")
    if not context:
        raise AuthError("kubeconfig %s has no current-context; set the context option" % path)
    chosen = named("contexts", context)
    return named("clusters", chosen.get("cluster")), named("users", chosen.get("user"))


def _in_cluster(auth, environ, verify):
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = _read(os.path.join(SERVICE_ACCOUNT, "token"))
    if not host or token is None:
        raise AuthError("no kubeconfig (the kubeconfig option, K8S_AUTH_KUBECONFIG, KUBECONFIG or ~/.kube/config) "
                        "and not running in a pod; say which cluster to use")
    if ":" in host:
        host = "[%s]" % host
    ca_file = auth["ca_cert"] or os.path.join(SERVICE_ACCOUNT, "ca.crt")
    return Connection("https://%s:%s" % (host, port), token=auth["api_key"] or token, ca_file=ca_file, verify=verify)


def _through_library(path, auth, verify, ca_file):
    """exec and auth-provider plugins: the kubernetes library runs them and refreshes the token when it expires."""
    try:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
    except ImportError:
        raise AuthError("kubeconfig %s authenticates through a plugin (exec or auth-provider), which needs the "
                        "kubernetes Python library: pip install kubernetes" % path)
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(config_file=path, context=auth["context"], client_configuration=configuration,
                                    persist_config=False)
    except Exception as error:  # the library raises ConfigException, ValueError, TypeError, ...
        raise AuthError("cannot load kubeconfig %s: %s" % (path, error))

    def token():
        """The current token; auth_settings() refreshes an expired one (its key name differs across versions)."""
        value = ((configuration.auth_settings().get("BearerToken") or {}).get("value")) or ""
        return value[len("Bearer "):] if value.startswith("Bearer ") else value

    return Connection(auth["host"] or configuration.host, token=auth["api_key"],
                      token_source=None if auth["api_key"] else token,
                      ca_file=ca_file or configuration.ssl_ca_cert, cert_file=configuration.cert_file,
                      key_file=configuration.key_file, verify=verify and configuration.verify_ssl)


def _relative(base, path):
    if not path:
        return None
    return os.path.join(base, os.path.expanduser(path))


def _read(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as handle:
        return handle.read().strip()


def _decode(data):
    return base64.b64decode(data).decode("ascii") if data else None


def _temp(data):
    """Client certificate and key data go to private temporary files (the TLS layer reads files), removed at exit."""
    if not data:
        return None
    handle, path = tempfile.mkstemp(prefix="gpufabric-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(base64.b64decode(data))
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return path


def _missing(field, path):
    raise AuthError("kubeconfig %s: the cluster of the chosen context has no %s" % (path, field))
