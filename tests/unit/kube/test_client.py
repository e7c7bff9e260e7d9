"""Connection options -> Connection, as kubectl resolves them: merged KUBECONFIG lists, context / user / cluster
selection, overrides by the options, credentials of every kind, impersonation, TLS names, errors."""

from __future__ import annotations

import base64
import json
import os
import sys

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AuthError, connect

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write(path, clusters=(), users=(), contexts=(), current=None):
    """A kubeconfig file; clusters / users / contexts as {name: body}."""
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": name, "cluster": body} for name, body in dict(clusters).items()],
              "users": [{"name": name, "user": body} for name, body in dict(users).items()],
              "contexts": [{"name": name, "context": body} for name, body in dict(contexts).items()]}
    if current:
        config["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return str(path)


def simple(tmp_path, user=None, cluster=None, name="config"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ca.crt").write_text(PEM)
    return write(tmp_path / name, clusters={"c": cluster or {"server": "https://10.0.0.1:6443",
                                                             "certificate-authority": "ca.crt"}},
                 users={"u": user if user is not None else {"token": "s3cret"}},
                 contexts={"main": {"cluster": "c", "user": "u"}}, current="main")


def tls(connection):
    return connection.pool.connection_pool_kw


def authorization(connection):
    return connection.headers().get("Authorization")


# -- one kubeconfig ------------------------------------------------------------------------------------------


def test_token_and_a_ca_file_relative_to_the_kubeconfig(tmp_path):
    connection = connect({"kubeconfig": simple(tmp_path)}, environ={})
    assert connection.host == "https://10.0.0.1:6443"
    assert authorization(connection) == "Bearer s3cret"
    assert tls(connection)["ca_certs"] == str(tmp_path / "ca.crt")
    assert tls(connection)["cert_reqs"] == "CERT_REQUIRED"


def test_a_token_file_is_read_and_trimmed_as_kubectl_does(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    connection = connect({"kubeconfig": simple(tmp_path, user={"tokenFile": "token"})}, environ={})
    assert authorization(connection) == "Bearer from-file"


def test_embedded_ca_and_client_certificate_data_go_to_private_files(tmp_path):
    cluster = {"server": "https://h:6443", "certificate-authority-data": base64.b64encode(PEM.encode()).decode()}
    user = {"client-certificate-data": base64.b64encode(b"CERT").decode(),
            "client-key-data": base64.b64encode(b"KEY").decode()}
    connection = connect({"kubeconfig": simple(tmp_path, user=user, cluster=cluster)}, environ={})
    kw = tls(connection)
    assert open(kw["ca_certs"]).read() == PEM
    assert open(kw["cert_file"], "rb").read() == b"CERT" and open(kw["key_file"], "rb").read() == b"KEY"
    assert oct(os.stat(kw["key_file"]).st_mode & 0o777) == "0o600"
    assert authorization(connection) is None


def test_a_kubeconfig_basic_auth_user_is_sent_as_basic_not_bearer(tmp_path):
    connection = connect({"kubeconfig": simple(tmp_path, user={"username": "ann", "password": "pw"})}, environ={})
    assert authorization(connection) == "Basic " + base64.b64encode(b"ann:pw").decode()


def test_the_context_option_chooses_another_user_and_cluster(tmp_path):
    (tmp_path / "ca.crt").write_text(PEM)
    path = write(tmp_path / "config", current="main",
                 clusters={"c": {"server": "https://a:6443"}, "d": {"server": "https://b:6443"}},
                 users={"u": {"token": "a"}, "ops": {"token": "b"}},
                 contexts={"main": {"cluster": "c", "user": "u"}, "ops": {"cluster": "d", "user": "ops"}})
    connection = connect({"kubeconfig": path, "context": "ops"}, environ={})
    assert (connection.host, authorization(connection)) == ("https://b:6443", "Bearer b")
    assert connection.identity == 'user "ops" of context "ops" in kubeconfig %s' % path
    with pytest.raises(AuthError, match="no context named nope .contexts there: main, ops."):
        connect({"kubeconfig": path, "context": "nope"}, environ={})


def test_a_context_naming_an_unknown_cluster_is_refused_and_an_unknown_user_sends_nothing(tmp_path):
    path = write(tmp_path / "config", current="x", clusters={"c": {"server": "http://h"}},
                 contexts={"x": {"cluster": "gone", "user": "u"}, "y": {"cluster": "c", "user": "ghost"}})
    with pytest.raises(AuthError, match='context "x" names no cluster named gone'):
        connect({"kubeconfig": path}, environ={})
    connection = connect({"kubeconfig": path, "context": "y"}, environ={})
    assert authorization(connection) is None and "no kubeconfig defines that user" in connection.identity


def test_insecure_skip_tls_verify_is_honoured_until_a_ca_of_ones_own_is_given(tmp_path):
    path = simple(tmp_path, cluster={"server": "https://h", "insecure-skip-tls-verify": True})
    assert tls(connect({"kubeconfig": path}, environ={}))["cert_reqs"] == "CERT_NONE"
    own = connect({"kubeconfig": path, "ca_cert": str(tmp_path / "ca.crt")}, environ={})
    assert tls(own)["cert_reqs"] == "CERT_REQUIRED" and tls(own)["ca_certs"] == str(tmp_path / "ca.crt")
    assert tls(connect({"kubeconfig": simple(tmp_path), "validate_certs": False}, environ={}))["cert_reqs"] \
        == "CERT_NONE"


def test_tls_server_name_is_the_name_the_certificate_is_verified_for(tmp_path):
    path = simple(tmp_path, cluster={"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt",
                                     "tls-server-name": "kubernetes"})
    assert tls(connect({"kubeconfig": path}, environ={}))["server_hostname"] == "kubernetes"


def test_a_kubeconfig_given_as_a_dict(tmp_path):
    config = {"clusters": [{"name": "c", "cluster": {"server": "https://d:6443"}}],
              "users": [{"name": "u", "user": {"token": "from-dict"}}],
              "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    connection = connect({"kubeconfig": config}, environ={})
    assert (connection.host, authorization(connection)) == ("https://d:6443", "Bearer from-dict")
    assert "given as a dict" in connection.identity


# -- several kubeconfigs ---------------------------------------------------------------------------------------


def test_a_kubeconfig_list_is_merged_as_kubectl_merges_it(tmp_path):
    first = write(tmp_path / "a" / "config", current="ctx-a",
                  clusters={"shared": {"server": "https://a:6443"}},
                  users={"u": {"token": "token-a"}},
                  contexts={"ctx-a": {"cluster": "shared", "user": "u"}})
    second = write(tmp_path / "b" / "config", current="ctx-b",
                   clusters={"shared": {"server": "https://b:6443"}, "only-b": {"server": "https://only-b:6443"}},
                   users={"u": {"token": "token-b"}, "v": {"token": "token-v"}},
                   contexts={"ctx-a": {"cluster": "only-b", "user": "v"}, "ctx-b": {"cluster": "only-b", "user": "v"}})
    environ = {"KUBECONFIG": os.pathsep.join([first, str(tmp_path / "missing"), second])}
    chosen = connect({}, environ=environ)  # current-context of the first file, its entries win
    assert (chosen.host, authorization(chosen)) == ("https://a:6443", "Bearer token-a")
    other = connect({"context": "ctx-b"}, environ=environ)  # entries only the second file has are there
    assert (other.host, authorization(other)) == ("https://only-b:6443", "Bearer token-v")
    assert other.identity == 'user "v" of context "ctx-b" in kubeconfig %s' % second
    as_option = connect({"kubeconfig": os.pathsep.join([second, first])}, environ={})  # the order decides
    assert (as_option.host, authorization(as_option)) == ("https://only-b:6443", "Bearer token-v")


def test_current_context_comes_from_the_first_file_that_sets_one(tmp_path):
    users = {"u": {"token": "t"}}
    first = write(tmp_path / "a", users=users, clusters={"c": {"server": "https://first"}},
                  contexts={"one": {"cluster": "c", "user": "u"}})
    second = write(tmp_path / "b", current="two", users=users, clusters={"d": {"server": "https://second"}},
                   contexts={"two": {"cluster": "d", "user": "u"}})
    third = write(tmp_path / "c", current="one", users=users)
    assert connect({}, environ={"KUBECONFIG": os.pathsep.join([first, second, third])}).host == "https://second"


def test_relative_paths_are_relative_to_the_file_that_holds_them(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ca.crt").write_text(PEM)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "token").write_text("token-from-b")
    first = write(tmp_path / "a" / "config", current="x",
                  clusters={"c": {"server": "https://h", "certificate-authority": "ca.crt"}},
                  contexts={"x": {"cluster": "c", "user": "u"}})
    second = write(tmp_path / "b" / "config", users={"u": {"tokenFile": "token"}})
    connection = connect({"kubeconfig": os.pathsep.join([first, second])}, environ={})
    assert tls(connection)["ca_certs"] == str(tmp_path / "a" / "ca.crt")
    assert authorization(connection) == "Bearer token-from-b"


def test_every_file_the_option_names_must_exist_while_kubeconfig_list_gaps_are_skipped(tmp_path):
    path = simple(tmp_path)
    with pytest.raises(AuthError, match="kubeconfig .*missing does not exist"):
        connect({"kubeconfig": os.pathsep.join([path, str(tmp_path / "missing")])}, environ={})
    assert connect({}, environ={"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), path])}).host \
        == "https://10.0.0.1:6443"


def test_home_kube_config_is_the_default(tmp_path):
    simple(tmp_path / ".kube", name="config")
    assert connect({}, environ={"HOME": str(tmp_path)}).host == "https://10.0.0.1:6443"


# -- options over the kubeconfig -------------------------------------------------------------------------------


def test_host_alone_replaces_the_server_and_keeps_the_contexts_credentials(tmp_path):
    path = simple(tmp_path, cluster={"server": "https://10.0.0.1:6443", "certificate-authority": "ca.crt",
                                     "tls-server-name": "kubernetes"})
    connection = connect({"kubeconfig": path, "host": "https://other:443"}, environ={})
    assert connection.host == "https://other:443"
    assert authorization(connection) == "Bearer s3cret"
    assert tls(connection)["ca_certs"] == str(tmp_path / "ca.crt")
    assert "server_hostname" not in tls(connection)  # kubectl: --server drops tls-server-name


def test_host_without_credentials_or_kubeconfig_is_anonymous_not_the_pods_account(tmp_path):
    environ = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    connection = connect({"host": "https://h:6443"}, environ=environ)
    assert connection.host == "https://h:6443" and authorization(connection) is None
    assert "anonymous" in connection.identity


def test_host_with_credentials_of_its_own_reads_no_kubeconfig(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("{not yaml")
    connection = connect({"host": "https://10.1.1.1:6443", "api_key": "t", "ca_cert": "/etc/ca.pem"},
                         environ={"KUBECONFIG": str(broken)})
    assert authorization(connection) == "Bearer t" and tls(connection)["ca_certs"] == "/etc/ca.pem"
    assert "the api_key option" in connection.identity


def test_api_key_replaces_the_kubeconfig_users_credentials_and_is_named_as_the_identity(tmp_path):
    connection = connect({"kubeconfig": simple(tmp_path), "api_key": "override"}, environ={})
    assert authorization(connection) == "Bearer override"
    assert connection.identity.startswith("the token of the api_key option (server and TLS from context \"main\"")


def test_username_and_password_options_send_basic_auth(tmp_path):
    connection = connect({"host": "https://h", "username": "ann", "password": "pw"}, environ={})
    assert authorization(connection) == "Basic " + base64.b64encode(b"ann:pw").decode()
    assert "ann" in connection.identity and "pw" not in connection.identity


def test_client_certificate_options(tmp_path):
    connection = connect({"host": "https://h", "client_cert": "/c/cert.pem", "client_key": "/c/key.pem"},
                         environ={})
    assert (tls(connection)["cert_file"], tls(connection)["key_file"]) == ("/c/cert.pem", "/c/key.pem")
    assert authorization(connection) is None and "/c/cert.pem" in connection.identity


def test_impersonation_from_the_kubeconfig_user_and_the_options_field_by_field(tmp_path):
    user = {"token": "t", "as": "ann", "as-groups": ["g1", "g2"], "as-uid": "42", "as-user-extra": {"scope": ["a"]}}
    path = simple(tmp_path, user=user)
    headers = connect({"kubeconfig": path}, environ={}).headers()
    assert headers.getlist("Impersonate-User") == ["ann"] and headers.getlist("Impersonate-Group") == ["g1", "g2"]
    assert headers["Impersonate-Uid"] == "42" and headers["Impersonate-Extra-scope"] == "a"
    headers = connect({"kubeconfig": path, "impersonate_user": "bob"}, environ={}).headers()
    assert headers.getlist("Impersonate-User") == ["bob"] and headers.getlist("Impersonate-Group") == ["g1", "g2"]
    headers = connect({"host": "https://h", "api_key": "t", "impersonate_groups": ["ml-team", " ops "]},
                      environ={}).headers()
    assert headers.getlist("Impersonate-Group") == ["ml-team", "ops"] and "Impersonate-User" not in headers


# -- plugins and the library -------------------------------------------------------------------------------------


def credential_script(tmp_path, body):
    script = tmp_path / "plugin.py"
    script.write_text("#!%s\nimport json, sys\n%s\n" % (sys.executable, body))
    script.chmod(0o755)
    return str(script)


def test_an_exec_plugin_gives_the_token(tmp_path):
    script = credential_script(tmp_path, 'print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", '
                                         '"kind": "ExecCredential", "status": {"token": "from-plugin"}}))')
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": script}}
    assert authorization(connect({"kubeconfig": simple(tmp_path, user=user)}, environ={})) == "Bearer from-plugin"


def test_a_failing_exec_plugin_is_an_error_in_its_own_words(tmp_path):
    script = credential_script(tmp_path, 'sys.stderr.write("login expired, run sso-login\\n"); sys.exit(3)')
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": script}}
    with pytest.raises(AuthError, match="exec plugin .*plugin.py of user \"u\" .*gave no credentials.*login expired"):
        connect({"kubeconfig": simple(tmp_path, user=user)}, environ={})


def test_persist_config_writes_a_refreshed_auth_provider_token_back(tmp_path):
    script = credential_script(tmp_path, 'print(json.dumps({"credential": {"access_token": "fresh", '
                                         '"token_expiry": "2999-01-01T00:00:00Z"}}))')
    user = {"auth-provider": {"name": "gcp", "config": {"cmd-path": script}}}
    path = simple(tmp_path, user=user)
    assert authorization(connect({"kubeconfig": path}, environ={})) == "Bearer fresh"
    assert "fresh" not in open(path).read()  # not written unless asked
    connect({"kubeconfig": path, "persist_config": True}, environ={})
    assert "fresh" in open(path).read()


# -- errors ------------------------------------------------------------------------------------------------------


def test_errors_say_which_option_to_fix(tmp_path):
    with pytest.raises(AuthError, match="not running in a pod"):
        connect({}, environ={"HOME": str(tmp_path)})
    with pytest.raises(AuthError, match="context ops given but no kubeconfig found"):
        connect({"context": "ops"}, environ={"HOME": str(tmp_path)})
    no_server = simple(tmp_path, cluster={"certificate-authority": "ca.crt"}, name="no-server")
    with pytest.raises(AuthError, match='cluster "c" of context "main" has no server'):
        connect({"kubeconfig": no_server}, environ={})
    assert connect({"kubeconfig": no_server, "host": "https://given"}, environ={}).host == "https://given"
    none_current = write(tmp_path / "none-current", contexts={"a": {}, "b": {}})
    with pytest.raises(AuthError, match="sets no current-context; set the context option .*contexts there: a, b"):
        connect({"kubeconfig": none_current}, environ={})
