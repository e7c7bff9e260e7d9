# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Reach the API server from the connection options every gpufabric module shares, the way kubectl does.

Option names, aliases and K8S_AUTH_* variables are kubernetes.core's, so a play that already talks to a cluster
with kubernetes.core sets them once for both collections. A kubeconfig (kubeconfig.py) or the pod's service
account gives the server and credentials; the options then override them field by field, as kubectl's flags do:
`host` alone replaces the server of the chosen context and keeps its credentials (and drops its
tls-server-name), while a host with credentials of its own needs no kubeconfig (kubernetes.core's rule).

Requests do not go through the kubernetes library's generated client: `Cluster` sends plain dicts over urllib3
with this Connection's server, TLS material, proxy (proxy.py) and headers.
"""

from __future__ import annotations

import base64
import os
import threading
from urllib.parse import quote, urlsplit

from ansible_collections.gpufabric.platform.plugins.module_utils.kube import kubeconfig, proxy as proxies
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.kubeconfig import (
    BASIC_ADVICE, CERT_ADVICE, AuthError, Target)

# option -> environment variables, the first one set wins (kubernetes.core's names; both where it reads two)
AUTH_ENV = {
    "kubeconfig": ["K8S_AUTH_KUBECONFIG"],
    "context": ["K8S_AUTH_CONTEXT"],
    "host": ["K8S_AUTH_HOST"],
    "api_key": ["K8S_AUTH_API_KEY"],
    "username": ["K8S_AUTH_USERNAME"],
    "password": ["K8S_AUTH_PASSWORD"],
    "validate_certs": ["K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"],
    "ca_cert": ["K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"],
    "client_cert": ["K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"],
    "client_key": ["K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"],
    "proxy": ["K8S_AUTH_PROXY"],
    "no_proxy": ["K8S_AUTH_NO_PROXY"],
    "persist_config": ["K8S_AUTH_PERSIST_CONFIG"],
    "impersonate_user": ["K8S_AUTH_IMPERSONATE_USER"],
    "impersonate_groups": ["K8S_AUTH_IMPERSONATE_GROUPS"],
}
PROXY_HEADERS_ENV = {
    "proxy_basic_auth": ["K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH"],
    "basic_auth": ["K8S_AUTH_PROXY_HEADERS_BASIC_AUTH"],
    "user_agent": ["K8S_AUTH_PROXY_HEADERS_USER_AGENT"],
}
_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")
POOL_SIZE = 8  # the modules send node patches 8 at a time
SOCKS_SCHEMES = ("socks5", "socks5h", "socks4", "socks4a")

__all__ = ["AUTH_ENV", "PROXY_HEADERS_ENV", "AuthError", "Connection", "connect", "options_with_env"]


def options_with_env(params, environ=None):
    """The options with each unset one taken from its K8S_AUTH_* variable and converted as Ansible converts it:
    what the argument spec's env fallbacks do for a module, for callers that are not modules."""
    environ = os.environ if environ is None else environ
    options = dict(params)
    for option, variables in AUTH_ENV.items():
        if options.get(option) is None:
            options[option] = _from_env(option, variables, environ)
    headers = dict(options.get("proxy_headers") or {})
    for key, variables in PROXY_HEADERS_ENV.items():
        if headers.get(key) is None:
            headers[key] = _from_env(key, variables, environ)
    options["proxy_headers"] = headers if any(value is not None for value in headers.values()) else None
    return options


def _from_env(option, variables, environ):
    for variable in variables:
        if variable in environ:
            value = environ[variable]
            if option in ("validate_certs", "persist_config"):
                if value.strip().lower() not in _TRUE + _FALSE:
                    raise AuthError("%s=%s is not a boolean; use true or false" % (variable, value))
                return value.strip().lower() in _TRUE
            if option == "impersonate_groups":
                return value.split(",")
            return value
    return None


class Connection(object):
    """Base URL, credentials and a pool of TLS connections to one API server.

    `authorization` is the Authorization header's value, or a callable giving the current one (plugins refresh
    it); `identity` and `advice` name whose credentials these are and what to check when the server refuses them.
    """

    def __init__(self, host, token=None, authorization=None, ca_file=None, cert_file=None, key_file=None,
                 verify=True, tls_server_name=None, proxy=None, proxy_headers=None, impersonate=None,
                 identity=None, advice=None):
        import urllib3

        self.host = host.rstrip("/")
        self.verify = verify
        self.ca_file = ca_file if verify else None  # None with verification on: the system's trust store
        self.proxy = proxies.redact(proxy) if proxy else None  # for messages
        self.identity = identity or ("the token given" if token else "no credentials (anonymous)")
        self.advice = advice or "check the credentials given for this server"
        self._authorization = authorization or ("Bearer " + token if token else None)
        self._refresh = threading.Lock()
        self._impersonation = _impersonation_headers(impersonate or {})
        tls = {"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
        if verify and ca_file:
            tls["ca_certs"] = ca_file
        if cert_file:
            tls["cert_file"], tls["key_file"] = cert_file, key_file
        if tls_server_name:  # the name sent as SNI and the one the certificate must carry
            tls["server_hostname"] = tls_server_name
        if not verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.pool = _proxy_pool(proxy, proxy_headers, tls) if proxy else urllib3.PoolManager(maxsize=POOL_SIZE,
                                                                                             **tls)
        # A kept-alive connection the server has closed fails on reuse; resending is safe because every write
        # gpufabric sends is idempotent (server-side apply, label merge patch, delete that accepts 404).
        self.retries = urllib3.Retry(total=3, connect=3, read=2, status=0, other=0, redirect=0,
                                     allowed_methods=None, backoff_factor=0.2, raise_on_status=False)

    def headers(self):
        """Authorization and impersonation headers (one Impersonate-Group line per group)."""
        from urllib3._collections import HTTPHeaderDict

        headers = HTTPHeaderDict()
        authorization = self._authorization
        if callable(authorization):
            with self._refresh:  # a plugin runs once even when 8 threads find its token expired together
                authorization = authorization()
        if authorization:
            headers["Authorization"] = authorization
        for name, value in self._impersonation:
            headers.add(name, value)
        return headers


def _impersonation_headers(impersonate):
    pairs = []
    if impersonate.get("user"):
        pairs.append(("Impersonate-User", impersonate["user"]))
    for group in impersonate.get("groups") or ():
        pairs.append(("Impersonate-Group", group))
    if impersonate.get("uid"):
        pairs.append(("Impersonate-Uid", impersonate["uid"]))
    for key, values in sorted((impersonate.get("extra") or {}).items()):
        for value in values if isinstance(values, list) else [values]:
            pairs.append(("Impersonate-Extra-" + quote(key, safe=""), value))
    return pairs


def _proxy_pool(proxy, proxy_headers, tls):
    """A ProxyManager (a CONNECT tunnel for https) sending the proxy its own headers, or a SOCKS one."""
    import urllib3

    if urlsplit(proxy).scheme in SOCKS_SCHEMES:  # the SOCKS handshake carries the URL's credentials itself
        try:
            import socks  # noqa: F401  pylint: disable=unused-import  # PySocks, which urllib3 needs for SOCKS
        except ImportError:
            raise AuthError("proxy %s is a SOCKS proxy, which needs the PySocks library: pip install pysocks"
                            % proxies.redact(proxy))
        from urllib3.contrib.socks import SOCKSProxyManager

        return SOCKSProxyManager(proxy, maxsize=POOL_SIZE, **tls)
    return urllib3.ProxyManager(proxy, proxy_headers=proxies.headers(proxy_headers, proxy), maxsize=POOL_SIZE,
                                **tls)


def connect(options, environ=None):
    """A Connection for these options (their K8S_AUTH_* fallbacks already applied: `options_with_env`).

    `environ` is read only for what kubectl reads: KUBECONFIG, HOME, HTTPS_PROXY / HTTP_PROXY / NO_PROXY and the
    in-cluster variables.
    """
    environ = os.environ if environ is None else environ
    host = options.get("host")
    if host and _own_credentials(options):
        target = Target(host)
    else:
        target = kubeconfig.resolve(options, environ)
        if target is None and host:
            target = Target(host, "no credentials (anonymous: host given without a kubeconfig)",
                            "give credentials: api_key, username and password, or client_cert and client_key")
        if target is None:
            target = kubeconfig.in_cluster(environ)
    _override(target, options)
    return Connection(target.server, authorization=target.authorization, ca_file=target.ca_file,
                      cert_file=target.cert_file, key_file=target.key_file, verify=target.verify,
                      tls_server_name=target.tls_server_name,
                      proxy=proxies.choose(target.server, target.proxy, options.get("no_proxy"), environ),
                      proxy_headers=options.get("proxy_headers"), impersonate=target.impersonate,
                      identity=target.identity, advice=target.advice)


def _own_credentials(options):
    """Whether the options authenticate without a kubeconfig (kubernetes.core's rule for a given host)."""
    return bool(options.get("api_key") or (options.get("username") and options.get("password"))
                or (options.get("client_cert") and options.get("client_key")))


def _override(target, options):
    """The options win over what the kubeconfig or the pod says, field by field, as kubectl's flags do."""
    if options.get("host"):
        target.server = options["host"]
        target.tls_server_name = None  # kubectl: --server drops the kubeconfig's tls-server-name
    if options.get("ca_cert"):  # a CA of one's own also ends the kubeconfig's insecure-skip-tls-verify
        target.ca_file, target.verify = os.path.expanduser(options["ca_cert"]), True
    if options.get("validate_certs") is not None:
        target.verify = bool(options["validate_certs"])
    if options.get("client_cert"):
        target.cert_file = os.path.expanduser(options["client_cert"])
    if options.get("client_key"):
        target.key_file = os.path.expanduser(options["client_key"])
    if options.get("proxy"):
        target.proxy = options["proxy"]
    if options.get("impersonate_user"):
        target.impersonate = dict(target.impersonate, user=options["impersonate_user"])
    groups = [group.strip() for group in options.get("impersonate_groups") or () if group and group.strip()]
    if groups:
        target.impersonate = dict(target.impersonate, groups=groups)
    source = " (server and TLS from %s)" % target.source if target.source else ""
    if options.get("api_key"):
        target.authorization = "Bearer " + options["api_key"]
        target.identity = "the token of the api_key option" + source
        target.advice = "check that this token (api_key, K8S_AUTH_API_KEY) is current and was issued for this cluster"
    elif options.get("username") and options.get("password"):
        target.authorization = "Basic " + base64.b64encode(
            ("%s:%s" % (options["username"], options["password"])).encode("utf-8")).decode("ascii")
        target.identity = "username %s (basic auth, the username and password options)%s" % (
            options["username"], source)
        target.advice = BASIC_ADVICE
    elif options.get("client_cert"):
        target.identity = "client certificate %s (the client_cert option)%s" % (target.cert_file, source)
        target.advice = CERT_ADVICE
