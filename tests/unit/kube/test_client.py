"""Connection options -> Connection: kubeconfig contexts, token sources, TLS material, env fallbacks, errors."""

from __future__ import annotations

import base64
import json
import os

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AuthError, connect, resolve_auth

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def kubeconfig(tmp_path, users, clusters=None, current="main", contexts=None):
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": clusters or [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443",
                                                           "certificate-authority": "ca.crt"}}],
        "users": users,
        "contexts": contexts or [{"name": "main", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "config"
    path.write_text(json.dumps(config))
    return str(path)


def tls(connection):
    return connection.pool.connection_pool_kw


def test_token_and_ca_file_relative_to_the_kubeconfig(tmp_path):
    path = kubeconfig(tmp_path, [{"name": "u", "user": {"token": "s3cret"}}])
    connection = connect({"kubeconfig": path}, environ={})
    assert connection.host == "https://10.0.0.1:6443"
    assert connection.headers() == {"Authorization": "Bearer s3cret"}
    assert tls(connection)["ca_certs"] == os.path.join(str(tmp_path), "ca.crt")
    assert tls(connection)["cert_reqs"] == "CERT_REQUIRED"


def test_token_file_and_embedded_ca_data(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    clusters = [{"name": "c", "cluster": {"server": "https://h:6443",
                                          "certificate-authority-data": base64.b64encode(PEM.encode()).decode()}}]
    path = kubeconfig(tmp_path, [{"name": "u", "user": {"tokenFile": "token"}}], clusters=clusters)
    connection = connect({"kubeconfig": path}, environ={})
    assert connection.headers() == {"Authorization": "Bearer from-file"}
    assert tls(connection)["ca_cert_data"] == PEM


def test_client_certificate_data_goes_to_private_files(tmp_path):
    user = {"client-certificate-data": base64.b64encode(b"CERT").decode(),
            "client-key-data": base64.b64encode(b"KEY").decode()}
    connection = connect({"kubeconfig": kubeconfig(tmp_path, [{"name": "u", "user": user}])}, environ={})
    cert, key = tls(connection)["cert_file"], tls(connection)["key_file"]
    assert open(cert, "rb").read() == b"CERT" and open(key, "rb").read() == b"KEY"
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert connection.headers() == {}


def test_context_option_chooses_another_user(tmp_path):
    contexts = [{"name": "main", "context": {"cluster": "c", "user": "u"}},
                {"name": "ops", "context": {"cluster": "c", "user": "ops"}}]
    path = kubeconfig(tmp_path, [{"name": "u", "user": {"token": "a"}}, {"name": "ops", "user": {"token": "b"}}],
                      contexts=contexts)
    assert connect({"kubeconfig": path, "context": "ops"}, environ={}).headers()["Authorization"] == "Bearer b"
    with pytest.raises(AuthError, match="has no context named nope"):
        connect({"kubeconfig": path, "context": "nope"}, environ={})


def test_options_override_the_kubeconfig_and_env_fills_in(tmp_path):
    path = kubeconfig(tmp_path, [{"name": "u", "user": {"token": "a"}}])
    environ = {"K8S_AUTH_KUBECONFIG": path, "K8S_AUTH_API_KEY": "from-env", "K8S_AUTH_VERIFY_SSL": "no"}
    connection = connect({"host": "https://other:443"}, environ=environ)
    assert connection.host == "https://other:443"
    assert connection.headers() == {"Authorization": "Bearer from-env"}
    assert tls(connection)["cert_reqs"] == "CERT_NONE"
    assert resolve_auth({}, {})["validate_certs"] is True  # TLS verification on by default


def test_host_and_api_key_need_no_kubeconfig():
    connection = connect({"host": "https://10.1.1.1:6443", "api_key": "t", "ca_cert": "/etc/ca.pem"}, environ={})
    assert connection.headers() == {"Authorization": "Bearer t"} and tls(connection)["ca_certs"] == "/etc/ca.pem"


def test_insecure_skip_tls_verify_in_the_kubeconfig_is_honoured(tmp_path):
    clusters = [{"name": "c", "cluster": {"server": "https://h", "insecure-skip-tls-verify": True}}]
    path = kubeconfig(tmp_path, [{"name": "u", "user": {"token": "a"}}], clusters=clusters)
    assert tls(connect({"kubeconfig": path}, environ={}))["cert_reqs"] == "CERT_NONE"


def test_errors_say_which_option_to_fix(tmp_path):
    with pytest.raises(AuthError, match="kubeconfig .*missing does not exist"):
        connect({"kubeconfig": str(tmp_path / "missing")}, environ={})
    with pytest.raises(AuthError, match="not running in a pod"):
        connect({}, environ={"HOME": str(tmp_path)})
    no_server = kubeconfig(tmp_path, [{"name": "u", "user": {"token": "a"}}],
                           clusters=[{"name": "c", "cluster": {}}])
    with pytest.raises(AuthError, match="has no server"):
        connect({"kubeconfig": no_server}, environ={})


def test_exec_plugins_go_through_the_kubernetes_library(tmp_path):
    (tmp_path / "ca.crt").write_text(PEM)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "echo",
                     "args": ['{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", '
                              '"status": {"token": "from-plugin"}}']}}
    connection = connect({"kubeconfig": kubeconfig(tmp_path, [{"name": "u", "user": user}])}, environ={})
    assert connection.headers() == {"Authorization": "Bearer from-plugin"}
