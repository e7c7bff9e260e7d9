# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""What every gpufabric module shares on the Ansible side: the auth argument spec, building the Cluster,
and turning core and API errors into fail_json with the message the user needs."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, _load_params, env_fallback, missing_required_lib

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import secret_values as spec_secrets
from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import DEFAULT_LABEL_PREFIX
from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import validate_options
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.send import WriteError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import (
    AUTH_ENV, PROXY_HEADERS_ENV, AuthError, connect)

try:
    import urllib3  # noqa: F401  pylint: disable=unused-import
    import yaml  # noqa: F401  pylint: disable=unused-import

    IMPORT_ERROR = None
except ImportError as error:
    IMPORT_ERROR = error


def _env(option, proxy_header=False):
    """The option's K8S_AUTH_* variables as an argument-spec fallback (client.py holds the one table)."""
    return (env_fallback, list((PROXY_HEADERS_ENV if proxy_header else AUTH_ENV)[option]))


# kubernetes.core's connection options: same names, aliases and variables; the doc fragment gpufabric.platform.auth
# describes each as it is here.
AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", fallback=_env("kubeconfig")),
    context=dict(type="str", fallback=_env("context")),
    host=dict(type="str", fallback=_env("host")),
    api_key=dict(type="str", no_log=True, fallback=_env("api_key")),
    username=dict(type="str", fallback=_env("username")),
    password=dict(type="str", no_log=True, fallback=_env("password")),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=_env("validate_certs")),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=_env("ca_cert")),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=_env("client_cert")),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=_env("client_key")),
    proxy=dict(type="str", fallback=_env("proxy")),
    no_proxy=dict(type="str", fallback=_env("no_proxy")),
    proxy_headers=dict(type="dict", apply_defaults=True, options=dict(
        proxy_basic_auth=dict(type="str", no_log=True, fallback=_env("proxy_basic_auth", proxy_header=True)),
        basic_auth=dict(type="str", no_log=True, fallback=_env("basic_auth", proxy_header=True)),
        user_agent=dict(type="str", fallback=_env("user_agent", proxy_header=True)),
    )),
    persist_config=dict(type="bool", fallback=_env("persist_config")),
    impersonate_user=dict(type="str", fallback=_env("impersonate_user")),
    impersonate_groups=dict(type="list", elements="str", fallback=_env("impersonate_groups")),
)
# Keys of a kubeconfig given as a dict whose values are secrets: masked wherever the module prints its arguments.
KUBECONFIG_SECRETS = ("token", "password", "client-key-data", "access-token", "refresh-token", "id-token",
                      "client-secret")

# The option documented by the gpufabric.platform.label_prefix doc fragment; ModuleRun reads it.
LABEL_PREFIX_ARG = dict(type="str", default=DEFAULT_LABEL_PREFIX)


def kubeconfig_secrets(kubeconfig):
    """The secret values inside a kubeconfig given as a dict (a path holds none the module prints)."""
    found = set()
    if isinstance(kubeconfig, dict):
        for key, value in kubeconfig.items():
            if key in KUBECONFIG_SECRETS and isinstance(value, str) and value:
                found.add(value)
            else:
                found.update(kubeconfig_secrets(value))
    elif isinstance(kubeconfig, list):
        for item in kubeconfig:
            found.update(kubeconfig_secrets(item))
    return found


class GpufabricModule(AnsibleModule):
    """AnsibleModule with the connection options added and check mode on. What the API servers said along the
    way (Warning headers, throttling) is reported as module warnings, each once, when the module exits or fails."""

    def __init__(self, argument_spec, kind=None, **kwargs):
        """kind: the module whose options the core checks (core.options) before AnsibleModule does, so a module
        task and the same entry in a fabric spec fail with the same message naming the option and the value."""
        spec = dict(AUTH_ARG_SPEC)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self._clusters = []
        self._warned = set()
        errors = _option_errors(kind, spec) if kind else []
        if errors:
            kwargs = dict(supports_check_mode=True)
            spec = dict((key, AUTH_ARG_SPEC.get(key, dict(type="raw"))) for key in _load_params()
                        if not key.startswith("_ansible"))  # every option accepted, to fail with the core's words
        super(GpufabricModule, self).__init__(argument_spec=spec, **kwargs)
        self.no_log_values.update(kubeconfig_secrets(self.params.get("kubeconfig")) | spec_secrets(self.params.get("spec")))
        if errors:
            self.fail_json(msg="\n".join(errors), errors=errors, changed=False)
        if IMPORT_ERROR is not None:
            self.fail_json(msg=missing_required_lib(IMPORT_ERROR.name or "urllib3 and PyYAML"),
                           exception=str(IMPORT_ERROR))
        self._cluster = None

    def _log_invocation(self):
        """Secrets inside a kubeconfig given as a dict, and no_log options inside a fabric spec, are masked before
        the arguments are first logged."""
        self.no_log_values.update(kubeconfig_secrets(self.params.get("kubeconfig")) | spec_secrets(self.params.get("spec")))
        super(GpufabricModule, self)._log_invocation()

    @property
    def cluster(self):
        if self._cluster is None:
            self._cluster = self.open_cluster(self.params)
        return self._cluster

    def open_cluster(self, options):
        """A Cluster for these connection options: the module's own, or a sub-dict naming a second cluster."""
        try:
            cluster = Cluster(connect(options))
        except AuthError as error:
            self.fail_json(msg=str(error))
        self._clusters.append(cluster)
        return cluster

    def exit_json(self, **kwargs):
        self._report_warnings()
        super(GpufabricModule, self).exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._report_warnings()
        super(GpufabricModule, self).fail_json(msg, **kwargs)

    def _report_warnings(self):
        for cluster in getattr(self, "_clusters", ()):
            for message in cluster.warnings:
                if message not in self._warned:
                    self._warned.add(message)
                    self.warn(message)

    def run(self, body):
        """Call body(); core validation errors, API errors and anything unexpected end the run with a message
        naming the module and the object (a write that failed midway says what was already written)."""
        try:
            body()
        except FabricError as error:
            self.fail_json(msg=str(error), errors=list(error.errors), changed=False)
        except WriteError as error:  # changed when anything was, or may have been, written
            self.fail_json(msg=str(error), status=error.status, changed=bool(error.done or error.unconfirmed),
                           written=[write.key for write in error.done],
                           unconfirmed=[write.key for write in error.unconfirmed])
        except KubeError as error:
            self.fail_json(msg=str(error), status=error.status, changed=False)
        except Exception as error:  # pylint: disable=broad-except  # a bug must still name what it was doing
            self.fail_json(msg="%s failed on %s: %s: %s (please report this with the task's arguments)"
                           % (self._name, self._object_name(), type(error).__name__, error),
                           exception=traceback.format_exc(), changed=False)

    def _object_name(self):
        params = self.params or {}
        name = params.get("name") or "its input"
        return "%s/%s" % (params["namespace"], name) if params.get("namespace") else str(name)


def _option_errors(kind, spec):
    """The core's verdict on the module's own options (connection options and label_prefix aside)."""
    loaded = _load_params()
    if not isinstance(loaded, dict):  # ansible-test reads the argument spec without arguments
        return []
    params = dict((key, value) for key, value in loaded.items()
                  if not key.startswith("_ansible") and key != "label_prefix" and key not in _AUTH_KEYS)
    return validate_options(kind, params)[1]


_AUTH_KEYS = frozenset(list(AUTH_ARG_SPEC) + [alias for option in AUTH_ARG_SPEC.values()
                                              for alias in option.get("aliases", ())])


class ModuleRun(object):
    """One run of a module that writes: its module, cluster, parameters, check mode and label prefix."""

    def __init__(self, module):
        self.module = module
        self.cluster = module.cluster
        self.params = module.params
        self.check_mode = module.check_mode
        self.prefix = self.params["label_prefix"]
