# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Connection options shared by every gpufabric module (names, aliases and variables as in kubernetes.core)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, several paths separated by V(:) (V(;) on Windows), or the kubeconfig itself
        as a dictionary.
      - Several files are merged as C(kubectl) merges a E(KUBECONFIG) list; every file named here must exist.
      - Without it the E(KUBECONFIG) list is read (files that do not exist are skipped), else C(~/.kube/config);
        without any kubeconfig, the service account of the pod the module runs in is used.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Without it, the current-context of the first file that sets one.
      - Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the API server, for example V(https://10.0.0.1:6443).
      - With O(api_key), O(username) and O(password), or O(client_cert) and O(client_key), no kubeconfig is read.
      - Alone it replaces the server of the chosen kubeconfig context and keeps its credentials, as
        C(kubectl --server) does (the context's C(tls-server-name) is then not used).
      - Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server; replaces the credentials of the kubeconfig user. Never logged.
      - Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - "User name for HTTP basic authentication, sent with O(password) as C(Authorization: Basic)."
      - Only API servers configured to accept basic authentication take it; Kubernetes itself removed it in 1.19.
      - Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication with O(username). Never logged.
      - Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Turn off only for a throw-away cluster.
      - Without it, certificates are verified unless the kubeconfig's cluster sets C(insecure-skip-tls-verify).
      - Can also be set with E(K8S_AUTH_VERIFY_SSL) or E(K8S_AUTH_VALIDATE_CERTS).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate that signed the API server's certificate (the full chain, if there is one).
      - Replaces the kubeconfig cluster's CA, and its C(insecure-skip-tls-verify).
      - Can also be set with E(K8S_AUTH_SSL_CA_CERT) or E(K8S_AUTH_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate presented to the API server, with O(client_key).
      - Can also be set with E(K8S_AUTH_CERT_FILE) or E(K8S_AUTH_CLIENT_CERT).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the private key of O(client_cert).
      - Can also be set with E(K8S_AUTH_KEY_FILE) or E(K8S_AUTH_CLIENT_KEY).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy for the connection, for example V(http://proxy.example:3128); https servers are
        reached through a CONNECT tunnel. Credentials in the URL are sent to the proxy as C(Proxy-Authorization).
      - Without it, the kubeconfig cluster's C(proxy-url) is used, else E(HTTPS_PROXY) (E(HTTP_PROXY) for an http
        server) unless E(NO_PROXY) names the server; as with C(kubectl), a loopback server never goes through
        the E(HTTPS_PROXY) one.
      - Can also be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains (V(.example.com) for subdomains only), IP addresses and CIDR ranges that
        go straight to the server, whichever proxy would apply.
      - For example V(localhost,.local,127.0.0.1,10.0.0.0/8).
      - Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers sent to the proxy (in the CONNECT request for an https server), not to the API server.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - V(user:password) for the C(Proxy-Authorization) header. Never logged.
          - Can also be set with E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - V(user:password) for an C(Authorization) header to the proxy. Never logged.
          - Can also be set with E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - C(User-Agent) sent to the proxy, for example V(gpufabric/1.0).
          - Can also be set with E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Whether a token that an auth-provider plugin (C(oidc), C(gcp)) refreshed is written back to the kubeconfig
        file that defines the user, so the next run does not refresh it again. Off unless set.
      - Can also be set with E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - User to act as (the C(Impersonate-User) header); the connecting identity needs the C(impersonate)
        permission. Replaces the kubeconfig user's C(as).
      - Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to act as, one C(Impersonate-Group) header each. Replaces the kubeconfig user's C(as-groups).
      - Can also be set with E(K8S_AUTH_IMPERSONATE_GROUPS), comma-separated, for example V(ml-team,viewers).
    type: list
    elements: str
requirements:
  - python >= 3.9
  - urllib3
  - PyYAML
  - kubernetes >= 24.2.0 (the kubernetes Python library), to read a kubeconfig or the pod's service account
notes:
  - Kubeconfig files are merged as C(kubectl) merges them; the kubernetes library then loads the chosen context,
    so tokens, token files, client certificates, exec and auth-provider plugins work as they do for C(kubectl).
    The cluster's C(tls-server-name) is the name the server's certificate is verified for, and a user's C(as) and
    C(as-groups) are sent as impersonation headers.
  - A 429 answer (or a 5xx one with C(Retry-After)) is sent again after the wait the server asks for, up to
    10 seconds and 5 times, and reported as a warning; so are the server's own C(Warning) headers.
  - Set the connection once for all gpufabric modules with C(module_defaults) and the group
    C(group/gpufabric.platform.kube).
"""
