"""Which proxy carries the requests: the option, the kubeconfig's proxy-url, HTTPS_PROXY / NO_PROXY as kubectl
reads them (loopback never through the environment's proxy), and the headers the proxy receives."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.kube import proxy
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AuthError, connect


def kubeconfig(tmp_path, **cluster):
    cluster = dict({"server": "https://k8s.example:6443"}, **cluster)
    config = {"current-context": "x", "clusters": [{"name": "c", "cluster": cluster}],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}
    path = tmp_path / "config"
    path.write_text(json.dumps(config))
    return str(path)


def used_proxy(connection):
    return getattr(connection.pool, "proxy", None) and connection.pool.proxy.url


def test_the_environments_proxy_for_the_servers_scheme():
    environ = {"HTTPS_PROXY": "http://corp:3128", "HTTP_PROXY": "http://plain:3128"}
    assert proxy.choose("https://k8s.example:6443", None, None, environ) == "http://corp:3128"
    assert proxy.choose("http://k8s.example:8080", None, None, environ) == "http://plain:3128"
    assert proxy.choose("https://k8s.example", None, None, {"https_proxy": "corp:3128"}) == "http://corp:3128"


def test_loopback_servers_never_use_the_environments_proxy_but_do_use_an_explicit_one():
    environ = {"HTTPS_PROXY": "http://corp:3128"}
    for server in ("https://127.0.0.1:6443", "https://localhost:6443", "https://[::1]:6443"):
        assert proxy.choose(server, None, None, environ) is None
    assert proxy.choose("https://127.0.0.1:6443", "http://127.0.0.1:3128", None, environ) == "http://127.0.0.1:3128"


@pytest.mark.parametrize("no_proxy, exempt", [
    ("*", True),
    ("k8s.example", True),           # the name itself
    ("example", True),               # and its subdomains
    (".example", True),              # subdomains only
    (".k8s.example", False),
    ("*.example", True),
    ("other.example, k8s.example:6443", True),   # with the server's port
    ("k8s.example:443", False),      # another port
    ("10.0.0.0/8", False),           # an address range does not name a host name
    ("s.example", False),            # a suffix that is not a label
])
def test_no_proxy_read_as_go_reads_it(no_proxy, exempt):
    assert proxy.exempt("k8s.example", 6443, no_proxy) is exempt


def test_no_proxy_with_addresses_and_ranges():
    assert proxy.exempt("10.1.2.3", 6443, "10.0.0.0/8")
    assert proxy.exempt("10.1.2.3", 6443, "10.1.2.3")
    assert not proxy.exempt("10.1.2.3", 6443, "10.1.2.4,192.168.0.0/16")


def test_no_proxy_in_the_environment_exempts_only_from_the_environments_proxy(tmp_path):
    environ = {"HTTPS_PROXY": "http://corp:3128", "NO_PROXY": "k8s.example"}
    assert used_proxy(connect({"kubeconfig": kubeconfig(tmp_path)}, environ=environ)) is None
    with_url = kubeconfig(tmp_path, **{"proxy-url": "http://cluster-proxy:8080"})
    assert used_proxy(connect({"kubeconfig": with_url}, environ=environ)) == "http://cluster-proxy:8080"


def test_the_proxy_option_wins_and_no_proxy_exempts_from_any_proxy(tmp_path):
    path = kubeconfig(tmp_path, **{"proxy-url": "http://cluster-proxy:8080"})
    environ = {"HTTPS_PROXY": "http://corp:3128"}
    assert used_proxy(connect({"kubeconfig": path}, environ=environ)) == "http://cluster-proxy:8080"
    assert used_proxy(connect({"kubeconfig": path, "proxy": "http://mine:1080"}, environ=environ)) == \
        "http://mine:1080"
    assert used_proxy(connect({"kubeconfig": path, "no_proxy": ".example"}, environ=environ)) is None
    assert used_proxy(connect({"kubeconfig": kubeconfig(tmp_path)}, environ=environ)) == "http://corp:3128"


def test_the_proxy_gets_its_own_headers_and_the_api_server_does_not(tmp_path):
    connection = connect({"kubeconfig": kubeconfig(tmp_path), "proxy": "http://ann:s3cret@proxy:3128",
                          "proxy_headers": {"user_agent": "gpufabric/1.0", "proxy_basic_auth": None}}, environ={})
    assert connection.pool.proxy_headers == {
        "User-Agent": "gpufabric/1.0",
        "Proxy-Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()}
    assert "Proxy-Authorization" not in connection.headers()
    assert connection.proxy == "http://ann:***@proxy:3128"
    explicit = proxy.headers({"proxy_basic_auth": "bob:pw", "basic_auth": "carl:pw2"}, "http://ann:s3cret@proxy:3128")
    assert explicit["Proxy-Authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()
    assert explicit["Authorization"] == "Basic " + base64.b64encode(b"carl:pw2").decode()


def test_a_socks_proxy_goes_through_pysocks_or_says_it_is_missing(tmp_path):
    try:
        import socks  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        with pytest.raises(AuthError, match="SOCKS proxy, which needs the PySocks library"):
            connect({"kubeconfig": kubeconfig(tmp_path), "proxy": "socks5://127.0.0.1:1080"}, environ={})
    else:
        connection = connect({"kubeconfig": kubeconfig(tmp_path), "proxy": "socks5://127.0.0.1:1080"}, environ={})
        assert type(connection.pool).__name__ == "SOCKSProxyManager"
