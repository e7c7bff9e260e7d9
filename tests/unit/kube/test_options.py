"""The connection options as modules get them: kubernetes.core's names, aliases and K8S_AUTH_* variables through
the argument spec's env fallbacks, the same values for callers that are not modules, the doc fragment matching the
spec, secrets of a kubeconfig dict masked, and the servers' warnings reported once each when a module ends."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args

from ansible_collections.gpufabric.platform.plugins.doc_fragments.auth import ModuleDocFragment
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import AUTH_ENV, AuthError, \
    options_with_env
from ansible_collections.gpufabric.platform.plugins.module_utils.module import AUTH_ARG_SPEC, GpufabricModule

KUBERNETES_CORE_OPTIONS = {  # name: aliases, as kubernetes.core's AUTH_ARG_SPEC has them
    "kubeconfig": [], "context": [], "host": [], "api_key": [], "username": [], "password": [],
    "validate_certs": ["verify_ssl"], "ca_cert": ["ssl_ca_cert"], "client_cert": ["cert_file"],
    "client_key": ["key_file"], "proxy": [], "no_proxy": [], "proxy_headers": [], "persist_config": [],
    "impersonate_user": [], "impersonate_groups": [],
}
ENVIRONMENT = {
    "K8S_AUTH_KUBECONFIG": "/k/config", "K8S_AUTH_CONTEXT": "ops", "K8S_AUTH_HOST": "https://h:6443",
    "K8S_AUTH_API_KEY": "tok", "K8S_AUTH_USERNAME": "ann", "K8S_AUTH_PASSWORD": "pw",
    "K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_SSL_CA_CERT": "/k/ca.pem", "K8S_AUTH_CERT_FILE": "/k/cert.pem",
    "K8S_AUTH_KEY_FILE": "/k/key.pem", "K8S_AUTH_PROXY": "http://p:3128", "K8S_AUTH_NO_PROXY": ".internal",
    "K8S_AUTH_PERSIST_CONFIG": "yes", "K8S_AUTH_IMPERSONATE_USER": "bob",
    "K8S_AUTH_IMPERSONATE_GROUPS": "ml-team,ops", "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "gpufabric/1.0",
    "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "u:p",
}
EXPECTED = {
    "kubeconfig": "/k/config", "context": "ops", "host": "https://h:6443", "api_key": "tok", "username": "ann",
    "password": "pw", "validate_certs": False, "ca_cert": "/k/ca.pem", "client_cert": "/k/cert.pem",
    "client_key": "/k/key.pem", "proxy": "http://p:3128", "no_proxy": ".internal", "persist_config": True,
    "impersonate_user": "bob", "impersonate_groups": ["ml-team", "ops"],
    "proxy_headers": {"proxy_basic_auth": "u:p", "basic_auth": None, "user_agent": "gpufabric/1.0"},
}


def validated(params, monkeypatch, environ):
    """The options as AnsibleModule would hand them to the module (env fallbacks, types, aliases)."""
    for name in list(ENVIRONMENT) + ["K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_CA_CERT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(AUTH_ARG_SPEC).validate(params)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_kubernetes_cores_options_and_aliases_are_all_there():
    assert dict((name, spec.get("aliases", [])) for name, spec in AUTH_ARG_SPEC.items()) == KUBERNETES_CORE_OPTIONS
    secret = [name for name, spec in AUTH_ARG_SPEC.items() if spec.get("no_log")]
    assert sorted(secret) == ["api_key", "password"]
    headers = AUTH_ARG_SPEC["proxy_headers"]["options"]
    assert sorted(name for name, spec in headers.items() if spec.get("no_log")) == ["basic_auth", "proxy_basic_auth"]


def test_every_option_falls_back_to_its_k8s_auth_variable_in_a_module(monkeypatch):
    params = validated({}, monkeypatch, ENVIRONMENT)
    assert dict((name, params[name]) for name in EXPECTED) == EXPECTED


def test_non_module_callers_get_the_same_values_from_the_same_variables(monkeypatch):
    assert options_with_env({}, ENVIRONMENT) == EXPECTED
    assert options_with_env({}, ENVIRONMENT) == dict((name, validated({}, monkeypatch, ENVIRONMENT)[name])
                                                     for name in EXPECTED)


def test_a_given_option_wins_over_its_variable_and_the_second_names_are_read_too(monkeypatch):
    environ = {"K8S_AUTH_HOST": "https://env", "K8S_AUTH_VALIDATE_CERTS": "false", "K8S_AUTH_CA_CERT": "/x.pem"}
    params = validated({"host": "https://given"}, monkeypatch, environ)
    assert (params["host"], params["validate_certs"], params["ca_cert"]) == ("https://given", False, "/x.pem")
    options = options_with_env({"host": "https://given"}, environ)
    assert (options["host"], options["validate_certs"], options["ca_cert"]) == ("https://given", False, "/x.pem")
    assert options_with_env({}, {})["proxy_headers"] is None and options_with_env({}, {})["validate_certs"] is None


def test_a_variable_that_is_not_a_boolean_is_named():
    with pytest.raises(AuthError, match="K8S_AUTH_VERIFY_SSL=maybe is not a boolean"):
        options_with_env({}, {"K8S_AUTH_VERIFY_SSL": "maybe"})


def test_the_variable_table_and_the_spec_fallbacks_are_one():
    for name, variables in AUTH_ENV.items():
        assert AUTH_ARG_SPEC[name]["fallback"][1] == variables


def test_the_doc_fragment_describes_every_option_as_the_spec_has_it():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert sorted(documented) == sorted(AUTH_ARG_SPEC)

    def shape(spec):
        keys = ("type", "aliases", "elements", "default", "choices", "required")
        return dict((key, spec[key]) for key in keys if spec.get(key) not in (None, [], False))

    for name, spec in AUTH_ARG_SPEC.items():
        assert shape(documented[name]) == shape(spec), name
        for sub, sub_spec in (spec.get("options") or {}).items():
            assert shape(documented[name]["suboptions"][sub]) == shape(sub_spec), (name, sub)
    for name, variables in AUTH_ENV.items():
        text = " ".join(documented[name]["description"])
        assert all("E(%s)" % variable in text for variable in variables), name


# -- GpufabricModule ---------------------------------------------------------------------------------------


def run_module(capsys, args, body):
    """Build a GpufabricModule from these arguments, call body(module); return the module's JSON result."""
    ansible_warnings._global_warnings.clear()  # one process runs many modules here; Ansible runs one
    with patch_module_args(args):
        module = GpufabricModule(argument_spec={})
        with pytest.raises(SystemExit):
            body(module)
    return json.loads(capsys.readouterr().out)


@pytest.fixture(autouse=True)
def module_process(monkeypatch):
    """These tests run module code in the test process, where another test may have loaded Ansible's controller
    side (the filter tests do): then module warnings go to the controller's display instead of the result. A
    module process never has the controller loaded."""
    from ansible.module_utils import _internal

    monkeypatch.setattr(_internal, "is_controller", False)


def warnings_of(result):
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def test_the_servers_warnings_are_module_warnings_once_each_on_exit(serve, capsys, monkeypatch):
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
    host, _seen = serve([(200, b"{}", ['Warning: 299 - "v1beta1 is deprecated"']),
                         (200, b"{}", ['Warning: 299 - "v1beta1 is deprecated"', 'Warning: 299 - "quota low"'])])

    def body(module):
        module.cluster.request("GET", "/a")
        module.cluster.request("GET", "/b")
        module.exit_json(changed=False)

    result = run_module(capsys, {"host": host, "api_key": "a-long-token"}, body)
    assert warnings_of(result) == ["v1beta1 is deprecated", "quota low"]


def test_warnings_are_reported_when_the_module_fails_too(serve, capsys, monkeypatch):
    monkeypatch.setattr("ansible_collections.gpufabric.platform.plugins.module_utils.kube.api.time.sleep",
                        lambda seconds: None)
    host, _seen = serve([(429, b"{}", ["Retry-After: 1"]), (403, b'{"message": "forbidden"}')])

    def body(module):
        module.run(lambda: module.cluster.request("GET", "/api/v1/nodes"))

    result = run_module(capsys, {"host": host, "api_key": "a-long-token"}, body)
    assert result["failed"] and result["msg"].startswith("forbidden (HTTP 403); the request was made as the token")
    assert len(warnings_of(result)) == 1 and "asked 1 time(s) to slow down" in warnings_of(result)[0]


def test_secrets_of_a_kubeconfig_given_as_a_dict_never_appear_in_the_result(capsys):
    config = {"clusters": [{"name": "c", "cluster": {"server": "https://h"}}],
              "users": [{"name": "u", "user": {"token": "very-secret-token"}}],
              "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    result = run_module(capsys, {"kubeconfig": config},
                        lambda module: module.exit_json(changed=False, echo=module.params))
    assert "very-secret-token" not in json.dumps(result)
    assert result["echo"]["kubeconfig"]["clusters"][0]["cluster"]["server"] == "https://h"
