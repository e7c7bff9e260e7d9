# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: query
short_description: Select from info results, or any data, with a JMESPath expression
version_added: 0.3.0
description:
  - Evaluates a L(JMESPath,https://jmespath.org/specification.html) expression on the input and returns what it
    selects, as C(community.general.json_query) does, without needing that collection.
  - Values that Ansible's templating hands over (strings, lists and mappings from variables, facts and registered
    results) are read as the plain JSON types they hold, so functions such as C(contains), C(starts_with),
    C(join) and C(sort_by) accept them.
  - The info modules of this collection return lists of objects with stable keys (for example RV(pools) of
    M(gpufabric.platform.pool_info), RV(projects) of M(gpufabric.platform.project_info) and RV(hosts) of
    M(gpufabric.platform.compute_pool_info)), which is the shape JMESPath filters and projections read best.
  - JMESPath has no arithmetic; the info modules return the derived numbers a question needs (free GPUs, the share
    of a quota in use).
positional: expression
options:
  _input:
    description:
      - The data to query, for example a registered result of an info module.
    type: raw
    required: true
  expression:
    description:
      - The JMESPath expression.
      - Numbers and other JSON literals are written between backticks (V([?gpu_free >= `8`])), strings between
        single quotes (V([?name == 'training-pool'])). Put the expression in a variable when it contains quotes
        that the surrounding YAML or Jinja would otherwise take.
      - An expression that is not valid JMESPath fails the task with the parser's message and the column it
        stopped at; so does one that applies a function to the wrong type of value.
    type: str
    required: true
requirements:
  - jmespath (Python library, on the controller)
seealso:
  - name: JMESPath specification
    description: The expression language, its operators and functions.
    link: https://jmespath.org/specification.html
author:
  - gpufabric maintainers (@gpufabric)
"""

EXAMPLES = r"""
- name: Read the pool table
  gpufabric.platform.pool_info:
  register: pools

- name: Pools with at least 8 free GPUs
  ansible.builtin.debug:
    msg: "{{ pools.pools | gpufabric.platform.query('[?gpu_free >= `8`].name') }}"

- name: Pools whose nodes carry an A100 GPU type, with their free GPUs
  ansible.builtin.debug:
    msg: "{{ pools.pools | gpufabric.platform.query(expression) }}"
  vars:
    expression: "[?nodes[?starts_with(gpu_type, 'A100')]].{pool: name, free: gpu_free}"

- name: Read the projects
  gpufabric.platform.project_info:
  register: projects

- name: Projects within 10% of their quota of a GPU family
  ansible.builtin.debug:
    msg: "{{ projects.projects | gpufabric.platform.query('[?gpus[?used_percent >= `90`]].name') }}"

- name: Read the compute pools
  gpufabric.platform.compute_pool_info:
  register: compute

- name: Hosts of any compute pool that are not Healthy
  ansible.builtin.debug:
    msg: "{{ compute.hosts | gpufabric.platform.query(expression) }}"
  vars:
    expression: "[?status != 'Healthy'].{host: name, compute_pool: compute_pool, status: status}"
"""

RETURN = r"""
_value:
  description:
    - What the expression selects; V(null) (C(None)) when it selects nothing, for example a key that is not there.
  type: raw
"""

from collections.abc import Mapping, Set

from ansible.errors import AnsibleFilterError

try:
    import jmespath
    from jmespath.exceptions import ArityError, JMESPathError, UnknownFunctionError
except ImportError as error:
    jmespath = None
    IMPORT_ERROR = error
else:
    IMPORT_ERROR = None

NAME = "gpufabric.platform.query"


def plain(value):
    """The same data in built-in types only (str, int, float, bool, None, list, dict).

    JMESPath checks a function's argument types by the exact Python type name, so a subclass that Ansible wraps a
    value in (a tagged string, a lazily templated list or mapping) would be refused by `contains` or `join`.
    Copying into the built-in types reads every lazy value once and leaves the caller's data as it was.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return dict((plain(key), plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Set):
        return [plain(item) for item in sorted(value, key=repr)]
    return value


def query(data, expression):
    """`data | gpufabric.platform.query(expression)`: what the JMESPath expression selects from data."""
    if jmespath is None:
        raise AnsibleFilterError(
            "%s needs the Python library jmespath in the Python that runs ansible-playbook (the controller), "
            "which could not import it (%s): install it there, for example with `pip install jmespath`"
            % (NAME, IMPORT_ERROR))
    if not isinstance(expression, str):
        raise AnsibleFilterError("%s: the expression must be a string, got %s %r"
                                 % (NAME, type(expression).__name__, expression))
    expression = str.__str__(expression)
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as error:  # syntax, or empty
        raise AnsibleFilterError("%s: %r is not a valid JMESPath expression: %s" % (NAME, expression, error))
    try:
        return compiled.search(plain(data))
    except (ArityError, UnknownFunctionError) as error:  # found while evaluating, but mistakes in the expression
        raise AnsibleFilterError("%s: %r is not a valid JMESPath expression: %s" % (NAME, expression, error))
    except JMESPathError as error:
        raise AnsibleFilterError("%s: JMESPath expression %r cannot be evaluated on this data: %s"
                                 % (NAME, expression, error))


class FilterModule(object):
    """gpufabric.platform filters."""

    def filters(self):
        return {"query": query}
