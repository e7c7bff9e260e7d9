# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Which proxy, if any, carries the requests to an API server: kubectl's choice, with kubernetes.core's options.

The `proxy` option, else the cluster's proxy-url, else the environment's HTTPS_PROXY (HTTP_PROXY for an http
server) unless NO_PROXY names the server. As in kubectl (Go's ProxyFromEnvironment), a loopback server never
goes through an environment proxy, and NO_PROXY applies only to the environment's proxy; the `no_proxy` option
exempts the server from any proxy.
"""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import urlsplit


def choose(server, proxy, no_proxy, environ):
    """The proxy URL for `server`, or None. `proxy` is the option's or the kubeconfig's proxy-url."""
    parts = urlsplit(server)
    host, port = (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)
    if not proxy:
        names = ("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else ("HTTP_PROXY", "http_proxy")
        proxy = _first(environ, names)
        if proxy and (loopback(host) or exempt(host, port, _first(environ, ("NO_PROXY", "no_proxy")))):
            proxy = None
    if not proxy or exempt(host, port, no_proxy):
        return None
    return proxy if "://" in proxy else "http://" + proxy


def _first(environ, names):
    return next((environ[name] for name in names if environ.get(name)), None)


def loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exempt(host, port, no_proxy):
    """Whether a NO_PROXY list names host:port, read as Go reads it: `*`, IP addresses and CIDR ranges, `name`
    (the name and its subdomains), `.name` or `*.name` (subdomains only), each with an optional `:port`."""
    for entry in (no_proxy or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:  # a name on one side
            pass
        name, entry_port = entry.rsplit(":", 1) if entry.count(":") == 1 else (entry, "")
        if entry_port and entry_port != str(port):
            continue
        name = name[1:] if name.startswith("*.") else name
        if host.endswith(name) if name.startswith(".") else (host == name or host.endswith("." + name)):
            return True
    return False


def headers(proxy_headers, proxy):
    """Headers for the proxy itself: kubernetes.core's proxy_headers (built as urllib3's make_headers builds
    them), and the credentials of the proxy URL as Proxy-Authorization, as kubectl sends them."""
    options = proxy_headers or {}
    result = {}
    if options.get("proxy_basic_auth"):
        result["Proxy-Authorization"] = _basic(options["proxy_basic_auth"])
    if options.get("basic_auth"):
        result["Authorization"] = _basic(options["basic_auth"])
    if options.get("user_agent"):
        result["User-Agent"] = options["user_agent"]
    parts = urlsplit(proxy)
    if parts.username is not None and "Proxy-Authorization" not in result:
        result["Proxy-Authorization"] = _basic("%s:%s" % (parts.username, parts.password or ""))
    return result


def _basic(credentials):
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def redact(url):
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(":%s@" % parts.password, ":***@", 1)
