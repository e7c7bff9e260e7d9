# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Build an API client from the connection options every gpufabric module shares.

The option names and their K8S_AUTH_* environment variables are those of kubernetes.core, so a play that
already talks to a cluster with kubernetes.core can set the same values once for both collections.
"""

from __future__ import annotations

import os

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as error:  # reported by the module with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = error

AUTH_ENV = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
}

AUTH_OPTIONS = tuple(AUTH_ENV)


class AuthError(Exception):
    """The connection options do not give a usable client; the message says which option to fix."""


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


def api_client(params, environ=None):
    """A kubernetes ApiClient for these options: kubeconfig (and context), or host + api_key, or in-cluster."""
    auth = resolve_auth(params, environ)
    configuration = k8s_client.Configuration()
    if auth["host"] and auth["api_key"]:
        configuration.host = auth["host"]
        configuration.api_key = {"authorization": "Bearer " + auth["api_key"]}
    elif auth["kubeconfig"] or auth["context"] or not _in_cluster():
        kubeconfig = os.path.expanduser(auth["kubeconfig"]) if auth["kubeconfig"] else None
        if kubeconfig and not os.path.exists(kubeconfig):
            raise AuthError("kubeconfig %s does not exist; set the kubeconfig option or K8S_AUTH_KUBECONFIG" % kubeconfig)
        try:
            k8s_config.load_kube_config(config_file=kubeconfig, context=auth["context"],
                                        client_configuration=configuration, persist_config=False)
        except Exception as error:  # the library raises ConfigException, ValueError, TypeError, ...
            raise AuthError("cannot load kubeconfig%s%s: %s" % (
                " " + kubeconfig if kubeconfig else "", " context " + auth["context"] if auth["context"] else "",
                error))
        if auth["host"]:
            configuration.host = auth["host"]
        if auth["api_key"]:
            configuration.api_key = {"authorization": "Bearer " + auth["api_key"]}
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)
    if auth["ca_cert"]:
        configuration.ssl_ca_cert = os.path.expanduser(auth["ca_cert"])
    configuration.verify_ssl = bool(auth["validate_certs"])
    return k8s_client.ApiClient(configuration)


def _in_cluster():
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token")
