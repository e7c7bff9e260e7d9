# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""The label prefix every gpufabric module that writes or reads its labels shares."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  label_prefix:
    description:
      - Prefix of every label key and annotation gpufabric writes or reads - C(<prefix>/pool) and
        C(<prefix>/gpu-type) on pool nodes, C(<prefix>/compute-pool) and C(<prefix>/machine-pool) on compute-pool
        nodes, C(<prefix>/project) and C(<prefix>/tenant) on project namespaces, and the quota annotations.
      - A DNS subdomain. Use one prefix for every module of a platform (the fabric role sets it once); the default
        is interoperable with gpuctl. Only keys under it are ever written to or removed from a Node.
    type: str
    default: runwhere.ai
"""
