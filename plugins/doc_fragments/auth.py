# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Connection options shared by every gpufabric module (names as in kubernetes.core)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - Without it, and without O(host) and O(api_key), the default C(~/.kube/config) is read, or the
        in-cluster service account is used when running inside a pod.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context to use. Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the API server, for example C(https://10.0.0.1:6443). Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Never logged. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  ca_cert:
    description:
      - Path to the CA certificate that signed the API server's certificate.
      - Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Turn off only for a throw-away cluster.
      - Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
requirements:
  - python >= 3.9
  - urllib3
  - PyYAML
  - kubernetes >= 24.2.0, only for kubeconfig users that authenticate through an exec or auth-provider plugin
notes:
  - A kubeconfig with a token, a token file or a client certificate is read directly; the kubernetes Python
    library is imported only for exec and auth-provider plugins, which it runs and refreshes.
  - Set the connection once for all gpufabric modules with C(module_defaults) and the group
    C(group/gpufabric.platform.kube).
"""
