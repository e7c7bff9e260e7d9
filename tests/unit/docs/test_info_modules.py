"""Every *_info module returns lists of objects with documented keys (the shape JMESPath filters and projections
read), is in the kube action group (so module_defaults give it its connection), and renders in ansible-doc."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.ansible import ansible_env
from tests.harness.collection import REPO

INFO_MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*_info.py"))


def documented(name, variable):
    """A module's DOCUMENTATION or RETURN, read from its source without importing it."""
    tree = ast.parse((REPO / "plugins" / "modules" / (name + ".py")).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == [variable]:
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no %s" % (name, variable))


def test_the_info_modules_are_found():
    assert {"pool_info", "compute_pool_info", "project_info"} <= set(INFO_MODULES)


@pytest.mark.parametrize("name", INFO_MODULES)
def test_every_result_is_a_list_of_objects_with_documented_keys(name):
    returned = documented(name, "RETURN")
    assert returned, "%s documents no return values" % name
    for key, doc in returned.items():
        assert (doc.get("type"), doc.get("elements")) == ("list", "dict"), "%s: %s is not a list of objects" % (
            name, key)
        assert doc.get("contains"), "%s: the keys of %s's objects are not documented" % (name, key)
        assert doc.get("returned") == "always", "%s: %s is not always returned" % (name, key)


@pytest.mark.parametrize("name", INFO_MODULES)
def test_every_info_module_takes_its_connection_from_the_kube_group(name):
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert name in runtime["action_groups"]["kube"]


def test_ansible_doc_renders_every_info_module_with_its_return_values():
    names = ["gpufabric.platform." + name for name in INFO_MODULES]
    out = subprocess.run([str(Path(sys.executable).with_name("ansible-doc")), "--json"] + names,
                         capture_output=True, text=True, env=ansible_env(), cwd=str(REPO), check=False)
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert sorted(docs) == sorted(names)
    for name in INFO_MODULES:
        doc = docs["gpufabric.platform." + name]
        assert sorted(doc["return"]) == sorted(documented(name, "RETURN")), name
