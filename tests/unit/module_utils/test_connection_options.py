"""The core's list of connection option names (what a fabric spec's `hub` may hold) is the modules' own."""

from __future__ import annotations

from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import CONNECTION_OPTIONS
from ansible_collections.gpufabric.platform.plugins.module_utils.module import AUTH_ARG_SPEC


def test_connection_option_names_and_aliases_are_the_argument_specs():
    names = set(AUTH_ARG_SPEC) | set(alias for option in AUTH_ARG_SPEC.values() for alias in option.get("aliases", ()))
    assert names == set(CONNECTION_OPTIONS)
