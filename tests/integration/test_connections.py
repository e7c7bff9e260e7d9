"""Connections behave as kubectl's, against the real control plane.

Each kubeconfig here gives the same server and credentials as the kubernetes library's own loader (and, for a
merged KUBECONFIG list, as kubectl itself), and a real module run (pool_info, a module process as Ansible starts
it) through it reaches the control plane: a merged list, a proxy (a CONNECT proxy process started on loopback,
which logs what it carried), tls-server-name, an exec plugin, a wrong token (the message names the kubeconfig,
context and user), a 429 with Retry-After (a loopback endpoint that refuses once, then forwards).

The harness's apiserver authenticates by token and has no --client-ca-file, so it would accept a TLS session
without looking at a client certificate. Client certificates are proven against a loopback front endpoint that
requires one signed by its own CA, records the name in it, and forwards to the apiserver as that user.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import connect
from tests.harness.ansible import run_module
from tests.harness.audit import AuditLog

pytestmark = pytest.mark.integration

EXEC_API = "client.authentication.k8s.io/v1"


# -- kubeconfigs ---------------------------------------------------------------------------------------------


def write_kubeconfig(path, clusters, users, contexts, current=None):
    """clusters / users / contexts as {name: body}."""
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": name, "cluster": body} for name, body in clusters.items()],
              "users": [{"name": name, "user": body} for name, body in users.items()],
              "contexts": [{"name": name, "context": body} for name, body in contexts.items()]}
    if current:
        config["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return str(path)


def single(path, cluster, user, context="main"):
    return write_kubeconfig(path, {"c": cluster}, {"u": user}, {context: {"cluster": "c", "user": "u"}}, context)


def real_cluster(control_plane, **extra):
    return dict({"server": control_plane.server, "certificate-authority": str(control_plane.ca_cert)}, **extra)


def pool_info(kubeconfig, context=None, **args):
    return run_module("pool_info", args, kubeconfig, context=context)


def reached(result):
    """The module answered with the pool table: it authenticated and read Nodes, Pods and Pools."""
    assert not result.get("failed"), result.get("msg")
    return isinstance(result.get("pools"), list)


def read(path):
    if not path:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def ours(options, environ=None):
    """What gpufabric connects to and with: server, Authorization, TLS material (contents), SNI name, proxy."""
    connection = connect(options, environ={} if environ is None else environ)
    kw = connection.pool.connection_pool_kw
    proxy = connection.pool.proxy.url if getattr(connection.pool, "proxy", None) else None
    return {"server": connection.host, "authorization": connection.headers().get("Authorization"),
            "ca": read(kw.get("ca_certs")), "cert": read(kw.get("cert_file")), "key": read(kw.get("key_file")),
            "tls_server_name": kw.get("server_hostname"), "proxy": proxy}


def library(kubeconfig, context=None):
    """The same, as the kubernetes library's own load_kube_config sets it up."""
    from kubernetes import client, config

    configuration = client.Configuration(proxy="")  # the kubeconfig's proxy-url only, not the environment's
    config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                            persist_config=False)
    bearer = configuration.auth_settings().get("BearerToken") or {}
    return {"server": configuration.host, "authorization": bearer.get("value"),
            "ca": read(configuration.ssl_ca_cert), "cert": read(configuration.cert_file),
            "key": read(configuration.key_file), "tls_server_name": configuration.tls_server_name,
            "proxy": configuration.proxy or None}


def kubectl(environ):
    """kubectl's own choice for a KUBECONFIG list: the server and token of its current context."""
    binary = shutil.which("kubectl", path=os.path.dirname(sys.executable))
    out = subprocess.run([binary, "config", "view", "--minify", "--raw", "-o", "json"], capture_output=True,
                         text=True, check=True, env=dict(os.environ, **environ))
    view = json.loads(out.stdout)
    return view["clusters"][0]["cluster"]["server"], "Bearer " + view["users"][0]["user"]["token"]


# -- a merged KUBECONFIG list ------------------------------------------------------------------------------------


def test_a_merged_kubeconfig_list_is_read_as_kubectl_reads_it(control_plane, tmp_path, monkeypatch):
    """The first file sets current-context and the entries that count; the second adds a context and would
    break the connection if its entries (a wrong token, a dead server) were taken instead."""
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    shutil.copy(control_plane.ca_cert, first_dir / "ca.crt")  # relative to its own file
    first = write_kubeconfig(first_dir / "config", current="ops",
                             clusters={"local": {"server": control_plane.server, "certificate-authority": "ca.crt"}},
                             users={"operator": {"token": control_plane.token("operator")}},
                             contexts={"ops": {"cluster": "local", "user": "operator"}})
    second = write_kubeconfig(tmp_path / "second" / "config", current="elsewhere",
                              clusters={"local": {"server": "https://127.0.0.1:9"}},
                              users={"operator": {"token": "not-the-token"},
                                     "admin": {"token": control_plane.token("admin")}},
                              contexts={"ops": {"cluster": "local", "user": "admin"},
                                        "elsewhere": {"cluster": "local", "user": "admin"},
                                        "admin-too": {"cluster": "local", "user": "admin"}})
    listed = os.pathsep.join([first, str(tmp_path / "missing"), second])

    mine = ours({}, {"KUBECONFIG": listed})
    assert (mine["server"], mine["authorization"]) == kubectl({"KUBECONFIG": listed})
    assert (mine["server"], mine["authorization"]) == (control_plane.server, "Bearer " + control_plane.token("operator"))
    for context in ("ops", "admin-too"):  # the library, told the context, agrees on every other field
        assert ours({"context": context}, {"KUBECONFIG": listed}) == library(listed, context)

    monkeypatch.setenv("KUBECONFIG", listed)
    assert reached(pool_info(None))
    assert reached(pool_info(None, context="admin-too"))


# -- proxies -------------------------------------------------------------------------------------------------------

PROXY = r'''
"""A CONNECT proxy on loopback. argv: port file, log file, then name=address pairs it resolves itself.
Each CONNECT is logged with the headers the proxy received; targets off loopback are refused."""
import ipaddress, socket, sys, threading

port_file, log_file, names = sys.argv[1], sys.argv[2], dict(pair.split("=", 1) for pair in sys.argv[3:])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
with open(port_file + ".tmp", "w") as out:
    out.write(str(listener.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
lock = threading.Lock()


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def handle(client):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    method, target = lines[0].split()[:2]
    host, port = target.rsplit(":", 1)
    address = names.get(host, host)
    with lock, open(log_file, "a") as log:
        log.write(" | ".join([lines[0]] + sorted(lines[1:])) + "\n")
    if method != "CONNECT" or not ipaddress.ip_address(address).is_loopback:
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    upstream = socket.create_connection((address, int(port)))
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    pump(upstream, client)


while True:
    connection, _ = listener.accept()
    threading.Thread(target=handle, args=(connection,), daemon=True).start()
'''


@pytest.fixture
def connect_proxy(tmp_path):
    """A CONNECT proxy process on loopback resolving `kubernetes` to 127.0.0.1; yields (URL, log path)."""
    script, port_file, log = tmp_path / "proxy.py", tmp_path / "proxy.port", tmp_path / "proxy.log"
    script.write_text(PROXY)
    log.write_text("")
    process = subprocess.Popen([sys.executable, str(script), str(port_file), str(log), "kubernetes=127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        yield "http://127.0.0.1:%s" % port_file.read_text(), log
    finally:
        process.terminate()
        process.wait(timeout=10)


def carried(log):
    return [line for line in log.read_text().splitlines() if line.startswith("CONNECT ")]


def test_proxy_url_in_the_kubeconfig_carries_the_module_run(control_plane, connect_proxy, tmp_path):
    proxy_url, log = connect_proxy
    path = single(tmp_path / "config", real_cluster(control_plane, **{"proxy-url": proxy_url}),
                  {"token": control_plane.token("operator")})
    assert ours({"kubeconfig": path}) == library(path)
    assert reached(pool_info(path))
    api_port = control_plane.server.rsplit(":", 1)[1]
    assert carried(log) and all(line.startswith("CONNECT 127.0.0.1:%s " % api_port) for line in carried(log))


def test_the_proxy_option_with_proxy_headers(control_plane, connect_proxy, tmp_path):
    proxy_url, log = connect_proxy
    path = single(tmp_path / "config", real_cluster(control_plane), {"token": control_plane.token("operator")})
    result = pool_info(path, proxy=proxy_url, proxy_headers={"user_agent": "gpufabric-test/1.0",
                                                             "proxy_basic_auth": "ann:s3cret"})
    assert reached(result)
    credentials = base64.b64encode(b"ann:s3cret").decode()
    assert carried(log) and all("Proxy-Authorization: Basic %s" % credentials in line
                                and "User-Agent: gpufabric-test/1.0" in line for line in carried(log)), log.read_text()
    assert "s3cret" not in json.dumps(result)


def test_https_proxy_from_the_environment_carries_a_name_only_the_proxy_resolves(
        control_plane, connect_proxy, tmp_path, monkeypatch):
    """`kubernetes` resolves nowhere on this machine but in the proxy, and is a name in the apiserver's
    certificate: the run succeeds only through HTTPS_PROXY, with the certificate verified for that name."""
    proxy_url, log = connect_proxy
    server = control_plane.server.replace("127.0.0.1", "kubernetes")
    path = single(tmp_path / "config", {"server": server, "certificate-authority": str(control_plane.ca_cert)},
                  {"token": control_plane.token("operator")})
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert reached(pool_info(path))
    assert carried(log) and all(line.startswith("CONNECT %s " % server[len("https://"):]) for line in carried(log))


def test_an_environment_proxy_is_not_used_for_a_loopback_server(control_plane, tmp_path, monkeypatch):
    """As with kubectl: HTTPS_PROXY names a proxy nothing listens on, and the loopback server is reached directly."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % probe.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", dead)
    path = single(tmp_path / "config", real_cluster(control_plane), {"token": control_plane.token("operator")})
    assert reached(pool_info(path))


# -- TLS -----------------------------------------------------------------------------------------------------------


def test_tls_server_name_is_the_name_the_certificate_is_verified_for(control_plane, tmp_path):
    user = {"token": control_plane.token("operator")}
    good = single(tmp_path / "good", real_cluster(control_plane, **{"tls-server-name": "kubernetes"}), user)
    assert ours({"kubeconfig": good}) == library(good)
    assert ours({"kubeconfig": good})["tls_server_name"] == "kubernetes"
    assert reached(pool_info(good))

    wrong = single(tmp_path / "wrong", real_cluster(control_plane, **{"tls-server-name": "not-in-the-cert.example"}),
                   user)
    result = pool_info(wrong)
    assert result["failed"]
    assert "cannot reach the API server at %s" % control_plane.server in result["msg"]
    assert "not-in-the-cert.example" in result["msg"] and "tls-server-name" in result["msg"]


def openssl(*argv):
    out = subprocess.run(["openssl", *argv], capture_output=True, text=True, check=False)
    assert out.returncode == 0, "openssl %s: %s" % (" ".join(argv), out.stderr)


def certificates(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate for CN=operator, all from that CA."""
    folder.mkdir()
    paths = dict((name, str(folder / name)) for name in
                 ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt", "client.key", "client.csr",
                  "client.crt", "san.ext"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=front-ca",
            "-keyout", paths["ca.key"], "-out", paths["ca.crt"])
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=front"), ("client", "/CN=operator")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", paths[name + ".key"],
                "-out", paths[name + ".csr"])
        extra = ["-extfile", paths["san.ext"]] if name == "server" else []
        openssl("x509", "-req", "-in", paths[name + ".csr"], "-CA", paths["ca.crt"], "-CAkey", paths["ca.key"],
                "-CAcreateserial", "-days", "2", "-out", paths[name + ".crt"], *extra)
    return paths


class Front(object):
    """A loopback endpoint that forwards each request to the apiserver and answers with its response.

    `refuse_first` answers the first request with 429 and Retry-After: 1 instead (kept in `refused`); `tls`
    (server certificate, key, client CA) makes it require a client certificate and forward as the user its common
    name names.
    """

    def __init__(self, control_plane, tls=None, refuse_first=False):
        import urllib3

        self.control_plane, self.refuse_first, self.seen, self.refused = control_plane, refuse_first, [], []
        self.lock = threading.Lock()  # requests arrive on several connections at once
        self.upstream = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(control_plane.ca_cert))
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_any(self):
                front.answer(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls["server.crt"], tls["server.key"])
            context.load_verify_locations(tls["ca.crt"])
            context.verify_mode = ssl.CERT_REQUIRED
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.server.server_address[1])

    def answer(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        peer = handler.connection.getpeercert() if hasattr(handler.connection, "getpeercert") else None
        common_name = dict(item[0] for item in peer["subject"]).get("commonName") if peer else None
        request = (handler.command, handler.path, common_name)
        with self.lock:
            self.seen.append(request)
            refuse = self.refuse_first and not self.refused
            if refuse:
                self.refused.append(request)
        if refuse:
            return self.reply(handler, 429, b'{"message": "Too many requests, please try again later."}',
                              {"Retry-After": "1"})
        headers = dict((key, value) for key, value in handler.headers.items()
                       if key.lower() in ("authorization", "content-type", "accept"))
        if common_name:
            headers["Authorization"] = "Bearer " + self.control_plane.token(common_name)
        response = self.upstream.request(handler.command, self.control_plane.server + handler.path, body=body,
                                         headers=headers, retries=False)
        self.reply(handler, response.status, response.data, {})

    @staticmethod
    def reply(handler, status, body, headers):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_client_certificate_is_presented(control_plane, tmp_path):
    paths = certificates(tmp_path / "pki")
    front = Front(control_plane, tls=paths)
    try:
        user = {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"}  # relative to the file
        path = single(tmp_path / "config", {"server": front.url, "certificate-authority": "pki/ca.crt"}, user)
        assert ours({"kubeconfig": path}) == library(path)
        assert reached(pool_info(path))
        assert front.seen and all(name == "operator" for _method, _path, name in front.seen)

        without = single(tmp_path / "without", {"server": front.url, "certificate-authority": paths["ca.crt"]},
                         {"token": control_plane.token("operator")})
        seen_before = len(front.seen)
        result = pool_info(without)
        assert result["failed"] and "cannot reach the API server at %s" % front.url in result["msg"]
        assert len(front.seen) == seen_before  # refused in the handshake: no certificate, no request

        options = pool_info(without, client_cert=paths["client.crt"], client_key=paths["client.key"])
        assert reached(options)
    finally:
        front.close()


# -- credentials -----------------------------------------------------------------------------------------------


def test_an_exec_plugin_gives_the_operators_token(control_plane, tmp_path):
    plugin = tmp_path / "credential-plugin"
    credential = {"apiVersion": EXEC_API, "kind": "ExecCredential",
                  "status": {"token": control_plane.token("operator")}}
    plugin.write_text("#!%s\nimport json, os\ninfo = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
                      "assert info['kind'] == 'ExecCredential'\nprint(json.dumps(%r))\n" % (sys.executable, credential))
    plugin.chmod(0o700)
    path = single(tmp_path / "config", real_cluster(control_plane),
                  {"exec": {"apiVersion": EXEC_API, "command": "./credential-plugin", "interactiveMode": "Never"}})
    assert ours({"kubeconfig": path}) == library(path)
    assert reached(pool_info(path))


def test_basic_auth_users_send_the_same_header_as_the_library(control_plane, tmp_path):
    """The harness's apiserver (1.20) has no basic authentication left; the header itself is compared."""
    path = single(tmp_path / "config", real_cluster(control_plane), {"username": "ann", "password": "pw"})
    assert ours({"kubeconfig": path}) == library(path)
    assert ours({"kubeconfig": path})["authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()


def test_a_wrong_token_names_the_kubeconfig_the_context_and_the_user(control_plane, tmp_path):
    path = write_kubeconfig(tmp_path / "stale-config", current="stale",
                            clusters={"local": real_cluster(control_plane)}, users={"ghost": {"token": "expired"}},
                            contexts={"stale": {"cluster": "local", "user": "ghost"}})
    result = pool_info(path)
    assert result["failed"] and result["status"] == 401
    assert 'user "ghost" of context "stale" in kubeconfig %s' % path in result["msg"]
    assert "HTTP 401" in result["msg"] and 'check that the token of user "ghost"' in result["msg"]

    by_host = run_module("pool_info", {"host": control_plane.server, "api_key": "expired-too",
                                       "ca_cert": str(control_plane.ca_cert)}, path, context=None)
    assert by_host["failed"] and by_host["status"] == 401
    assert "the API server at %s" % control_plane.server in by_host["msg"] and "api_key" in by_host["msg"]


def test_impersonation_reaches_the_server_as_the_impersonated_user(control_plane, kubeconfig):
    audit = AuditLog(control_plane.audit_log)
    mark = audit.mark()
    result = pool_info(kubeconfig, context="admin", impersonate_user="operator",
                       impersonate_groups=["gpufabric-probe", "system:authenticated"])
    assert reached(result)
    deadline, seen = time.monotonic() + 10, []
    while not seen and time.monotonic() < deadline:  # the apiserver writes its audit log asynchronously
        seen = [event["impersonatedUser"] for event in audit.events_since(mark)
                if event.get("user", {}).get("username") == "admin" and event.get("impersonatedUser")]
        time.sleep(0.1)
    wanted = ("operator", ["gpufabric-probe", "system:authenticated"])
    assert seen and all((user["username"], user.get("groups")) == wanted for user in seen), seen


# -- what the server says -------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_and_reported(control_plane, tmp_path):
    front = Front(control_plane, refuse_first=True)
    try:
        path = single(tmp_path / "config", {"server": front.url}, {"token": control_plane.token("operator")})
        result = pool_info(path)
        assert reached(result)
        refused = front.refused[0]
        assert front.seen.count(refused) == 2  # the refused request, sent again
        assert any("asked 1 time(s) to slow down" in warning and "%s %s" % refused[:2] in warning
                   for warning in result["warnings"]), result["warnings"]
    finally:
        front.close()


def test_the_servers_warning_headers_are_collected(kubeconfig):
    cluster = Cluster(connect({"kubeconfig": kubeconfig, "context": "admin"}))
    cluster.request("GET", "/apis/networking.k8s.io/v1beta1/ingresses")  # deprecated in 1.19: the server says so
    cluster.request("GET", "/apis/networking.k8s.io/v1beta1/ingresses")
    assert len(cluster.warnings) == 1 and "networking.k8s.io/v1beta1 Ingress is deprecated" in cluster.warnings[0]
