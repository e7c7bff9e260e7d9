"""The gpufabric.platform.query filter: JMESPath on plain and on Ansible-templated data, its error messages (a bad
expression, a function given the wrong type, a missing library) and its documentation through ansible-doc."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import jmespath
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpufabric.platform.plugins.filter import query as plugin
from tests.harness.ansible import ansible_env, run_playbook
from tests.harness.collection import REPO

POOLS = [
    {"name": "training-pool", "gpu_total": 16, "gpu_used": 12, "gpu_free": 4, "node_count": 2,
     "nodes": [{"name": "gpu-node-1", "gpu_type": "A100-100G", "gpu_count": 8},
               {"name": "gpu-node-2", "gpu_type": "A100-100G", "gpu_count": 8}]},
    {"name": "inference-pool", "gpu_total": 8, "gpu_used": 0, "gpu_free": 8, "node_count": 2,
     "nodes": [{"name": "gpu-node-3", "gpu_type": "A10-24G", "gpu_count": 4},
               {"name": "gpu-node-4", "gpu_type": "A10-24G", "gpu_count": 4}]},
    {"name": "default", "gpu_total": 0, "gpu_used": 0, "gpu_free": 0, "node_count": 1,
     "nodes": [{"name": "cpu-node-1", "gpu_type": "", "gpu_count": 0}]},
]


# Stand-ins for the wrapper types Ansible hands a filter (tagged strings, lazily templated containers): subclasses
# of the built-in types, whose names JMESPath's type checks do not know.
class TaggedStr(str):
    pass


class TaggedInt(int):
    pass


class LazyList(list):
    pass


class LazyDict(dict):
    pass


def wrapped(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return TaggedStr(value)
    if isinstance(value, int):
        return TaggedInt(value)
    if isinstance(value, dict):
        return LazyDict((wrapped(k), wrapped(v)) for k, v in value.items())
    if isinstance(value, list):
        return LazyList(wrapped(item) for item in value)
    return value


def test_filters_and_projections_select_from_a_pool_table():
    assert plugin.query(POOLS, "[?gpu_free >= `8`].name") == ["inference-pool"]
    assert plugin.query(POOLS, "[?nodes[?starts_with(gpu_type, 'A100')]].{pool: name, free: gpu_free}") == [
        {"pool": "training-pool", "free": 4}]
    assert plugin.query(POOLS, "max_by([?name != 'default'], &gpu_free).name") == "inference-pool"
    assert plugin.query(POOLS, "[].nodes[].name | sort(@)")[:2] == ["cpu-node-1", "gpu-node-1"]
    assert plugin.query({"pools": POOLS}, "pools[?name == 'nowhere'] | [0]") is None


def test_functions_accept_values_in_subclasses_of_the_builtin_types():
    data = wrapped(POOLS)
    assert type(data[0]["name"]).__name__ == "TaggedStr"
    with pytest.raises(jmespath.exceptions.JMESPathTypeError):  # what the library alone does with them
        jmespath.search("[?starts_with(name, 'train')].name", data)
    assert plugin.query(data, "[?starts_with(name, 'train')].name") == ["training-pool"]
    assert plugin.query(data, "join(', ', [].name)") == "training-pool, inference-pool, default"
    assert plugin.query(data, "sort_by(@, &gpu_free)[-1].name") == "inference-pool"
    assert plugin.query(data, "length([?contains(nodes[].gpu_type, 'A10-24G')])") == 1
    assert plugin.query(wrapped({"NVIDIA-A100": 4}), "keys(@)") == ["NVIDIA-A100"]
    assert plugin.query(TaggedStr("abc"), "length(@)") == 3


def test_plain_copies_into_builtin_types_and_leaves_the_input_alone():
    data = wrapped({"pools": POOLS, "set": {3, 1}, "pair": ("a", 1), "ratio": 0.5, "flag": True, "none": None,
                    "ordered": OrderedDict([("b", 1), ("a", 2)])})
    copy = plugin.plain(data)

    def types(value):
        if isinstance(value, dict):
            return set([type(value)]).union(*[types(k) | types(v) for k, v in value.items()] or [set()])
        if isinstance(value, list):
            return set([type(value)]).union(*[types(v) for v in value] or [set()])
        return {type(value)}

    assert types(copy) <= {dict, list, str, int, float, bool, type(None)}
    assert copy["pools"] == POOLS and copy["set"] == [1, 3] and copy["pair"] == ["a", 1]
    assert copy["flag"] is True and copy["ratio"] == 0.5 and list(copy["ordered"]) == ["b", "a"]
    assert type(data["pools"][0]["name"]) is TaggedStr  # noqa: E721  pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize("expression, words", [
    ("[?gpu_free >= `8`", ["'[?gpu_free >= `8`' is not a valid JMESPath expression", "Incomplete expression"]),
    ("[?name == `training]", ["is not a valid JMESPath expression", "Unclosed ` delimiter"]),
    ("", ["'' is not a valid JMESPath expression", "cannot be empty"]),
    ("[].nmae(gpu_free)", ["is not a valid JMESPath expression"]),
    ("[].free_gpus(@)", ["is not a valid JMESPath expression", "Unknown function: free_gpus()"]),
    ("length(@, @)", ["is not a valid JMESPath expression", "Expected 1 argument for function length(), received 2"]),
])
def test_a_bad_expression_fails_naming_it_and_what_is_wrong(expression, words):
    with pytest.raises(AnsibleFilterError) as caught:
        plugin.query(POOLS, expression)
    message = str(caught.value)
    assert message.startswith("gpufabric.platform.query: ")
    for word in words:
        assert word in message


def test_a_bad_expression_points_at_where_the_parser_stopped():
    expression = "[?gpu_free >= `8`] | [?? name]"
    with pytest.raises(AnsibleFilterError) as caught:
        plugin.query(POOLS, expression)
    lines = str(caught.value).splitlines()
    assert lines[-2] == expression and lines[-1] == " " * expression.index("??", 0) + " ^"
    with pytest.raises(AnsibleFilterError) as caught:
        plugin.query(POOLS, "[?gpu_free >= `8`] | sort_by(@, gpu_free) &&")
    assert "Parse error at column" in str(caught.value) or "Incomplete expression" in str(caught.value)


def test_a_function_given_the_wrong_type_fails_on_the_data():
    with pytest.raises(AnsibleFilterError) as caught:
        plugin.query(POOLS, "[].starts_with(gpu_free, 'A')")
    message = str(caught.value)
    assert "JMESPath expression \"[].starts_with(gpu_free, 'A')\" cannot be evaluated on this data" in message
    assert "In function starts_with(), invalid type for value: 4" in message


@pytest.mark.parametrize("expression", [8, None, ["name"]])
def test_an_expression_that_is_not_a_string_is_refused(expression):
    with pytest.raises(AnsibleFilterError) as caught:
        plugin.query(POOLS, expression)
    assert "the expression must be a string, got %s" % type(expression).__name__ in str(caught.value)


def test_without_the_library_the_filter_says_what_to_install(monkeypatch):
    monkeypatch.setattr(plugin, "jmespath", None)
    monkeypatch.setattr(plugin, "IMPORT_ERROR", ImportError("No module named 'jmespath'"))
    with pytest.raises(AnsibleFilterError) as caught:
        plugin.query(POOLS, "[].name")
    message = str(caught.value)
    assert "needs the Python library jmespath in the Python that runs ansible-playbook" in message
    assert "No module named 'jmespath'" in message and "pip install jmespath" in message


def test_an_import_without_the_library_still_loads_the_plugin(tmp_path):
    """Ansible loads every filter plugin of a collection it searches; a missing jmespath must not break that."""
    blocker = tmp_path / "jmespath.py"
    blocker.write_text("raise ImportError('jmespath is not installed here')\n")
    script = ("from ansible_collections.gpufabric.platform.plugins.filter import query as q\n"
              "print(q.jmespath is None, sorted(q.FilterModule().filters()))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                         env=dict(ansible_env(), PYTHONPATH="%s:%s" % (tmp_path, ansible_env()["PYTHONPATH"])))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "['query']"]


def test_the_collection_exposes_the_filter_as_query():
    assert plugin.FilterModule().filters() == {"query": plugin.query}


PLAYBOOK = r"""
- hosts: localhost
  gather_facts: false
  vars:
    suffix: pool
    pools:
      - {name: "training-{{ suffix }}", gpu_free: "{{ 2 + 2 }}", nodes: [{gpu_type: A100-100G}]}
      - {name: "inference-{{ suffix }}", gpu_free: 8, nodes: [{gpu_type: A10-24G}]}
    at_least: "[?gpu_free >= `4`].name"
  tasks:
    - name: A registered result
      ansible.builtin.command:
        argv: [echo, '{"hosts": {"h1": {"status": "Healthy"}, "h2": {"status": "Unhealthy"}}}']
      register: echoed
      changed_when: false

    - name: A fact built from templated values
      ansible.builtin.set_fact:
        fact_pools: "{{ pools }}"
        machines: "{{ echoed.stdout | from_json }}"

    - name: Functions take templated strings, lists and mappings
      ansible.builtin.assert:
        that:
          - (pools | gpufabric.platform.query(at_least)) == ['training-pool', 'inference-pool']
          - (fact_pools | gpufabric.platform.query("[?starts_with(name, 'train')].name")) == ['training-pool']
          - (fact_pools | gpufabric.platform.query("join(',', [].name)")) == 'training-pool,inference-pool'
          - (fact_pools | gpufabric.platform.query("[?contains(nodes[].gpu_type, 'A10-24G')].name")) == ['inference-pool']
          - (fact_pools | gpufabric.platform.query('sort_by(@, &gpu_free)[0].name')) == 'training-pool'
          - (machines | gpufabric.platform.query('keys(hosts)')) == ['h1', 'h2']
          - (machines | gpufabric.platform.query("hosts.*.status")) == ['Healthy', 'Unhealthy']
          - (suffix | gpufabric.platform.query('length(@)')) == 4

    - name: A bad expression fails the task
      ansible.builtin.debug:
        msg: "{{ pools | gpufabric.platform.query('[?gpu_free >= `4`') }}"
      register: bad
      ignore_errors: true

    - name: With the parser's message
      ansible.builtin.assert:
        that:
          - bad.failed
          - "'gpufabric.platform.query: \\'[?gpu_free >= `4`\\' is not a valid JMESPath expression' in bad.msg"
"""


def test_through_ansible_templating_on_variables_facts_and_registered_results(tmp_path):
    playbook = tmp_path / "query.yml"
    playbook.write_text(PLAYBOOK)
    code, output, recap = run_playbook(playbook)
    assert code == 0, output
    assert recap == {"ok": 5, "changed": 0, "failed": 0}, output  # the bad expression task is ignored, not ok
    assert "ignored=1" in output


def test_ansible_doc_shows_the_filter():
    out = subprocess.run([str(Path(sys.executable).with_name("ansible-doc")), "-t", "filter", "--json",
                          "gpufabric.platform.query"], capture_output=True, text=True, env=ansible_env(),
                         cwd=str(REPO), check=False)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)["gpufabric.platform.query"]
    assert doc["doc"]["name"] == "query" and doc["doc"]["positional"] == "expression"
    assert set(doc["doc"]["options"]) == {"_input", "expression"}
    assert doc["return"]["_value"]["type"] == "raw"
    assert "gpufabric.platform.query(" in doc["examples"]
