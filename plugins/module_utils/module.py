# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""What every gpufabric module shares on the Ansible side: the auth argument spec, building the Cluster,
and turning core and API errors into fail_json with the message the user needs."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import DEFAULT_LABEL_PREFIX
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AuthError, connect

try:
    import urllib3  # noqa: F401  pylint: disable=unused-import
    import yaml  # noqa: F401  pylint: disable=unused-import

    IMPORT_ERROR = None
except ImportError as error:
    IMPORT_ERROR = error

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
)

# The option documented by the gpufabric.platform.label_prefix doc fragment; ModuleRun reads it.
LABEL_PREFIX_ARG = dict(type="str", default=DEFAULT_LABEL_PREFIX)


class GpufabricModule(AnsibleModule):
    """AnsibleModule with the connection options added and check mode on."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(AUTH_ARG_SPEC)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        super(GpufabricModule, self).__init__(argument_spec=spec, **kwargs)
        if IMPORT_ERROR is not None:
            self.fail_json(msg=missing_required_lib(IMPORT_ERROR.name or "urllib3 and PyYAML"),
                           exception=str(IMPORT_ERROR))
        self._cluster = None

    @property
    def cluster(self):
        if self._cluster is None:
            try:
                self._cluster = Cluster(connect(self.params))
            except AuthError as error:
                self.fail_json(msg=str(error))
        return self._cluster

    def run(self, body):
        """Call body(); core validation errors and API errors end the run with their message."""
        from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError

        try:
            body()
        except FabricError as error:
            self.fail_json(msg=str(error), errors=list(error.errors), changed=False)
        except KubeError as error:
            self.fail_json(msg=str(error), status=error.status, exception=traceback.format_exc())


class ModuleRun(object):
    """One run of a module that writes: its module, cluster, parameters, check mode and label prefix."""

    def __init__(self, module):
        self.module = module
        self.cluster = module.cluster
        self.params = module.params
        self.check_mode = module.check_mode
        self.prefix = self.params["label_prefix"]
