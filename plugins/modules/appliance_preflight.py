#!/usr/bin/python
# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: appliance_preflight
short_description: Check every host of an appliance install against its minimums before any host is changed
version_added: 0.4.0
description:
  - Run once, on the controller, after every host's facts were gathered; it fails listing every problem of every
    host at once, so a run that would fall short stops before its first change anywhere.
  - Per host - reachable (its facts are there), architecture AMD64 or ARM64, Linux, the address to bind is one of
    its own, and CPUs, memory, free disk where the appliance installs and GPUs at or above the minimums of its role.
    Each shortfall names the host, the fact, its value and the minimum.
  - GPUs are read from C(nvidia-smi) where the driver is installed, else from the PCI devices of NVIDIA's vendor id
    C(0x10de) under C(/sys/bus/pci/devices) (display and 3D controllers; a device id the module does not know counts
    as C(NVIDIA-UNKNOWN-<id>)). The C(probe) of each host in O(hosts) carries what the role's probe script printed.
  - Control-plane hosts also need C(openssl), and systemd or C(start-stop-daemon); each cluster has exactly one
    control-plane host.
  - The control-plane binaries are checked on the controller when a control-plane host is in the run - the folder
    exists and holds C(etcd), C(kube-apiserver), C(kube-controller-manager) and C(kube-scheduler),
    C(kube-apiserver --version) is the pinned version, and the binaries are built for the hosts' architecture.
  - The module changes nothing.
author:
  - gpufabric maintainers (@gpufabric)
options:
  hosts:
    description:
      - What each host of the run reported, by inventory name. Each value is a mapping -
        C(role) (V(control_plane) for the leader or a compute pool's control-plane host, V(edge) otherwise;
        default V(edge)), C(reachable) (whether Ansible reached it and gathered its facts; default V(true)),
        C(address) (the address the run uses for it - its control plane binds it, an edge host registers it),
        C(facts) (its C(ansible_facts) - hardware, network, distribution, platform, service manager) and C(probe)
        (the output of the role's probe script - the tools found, C(nvidia-smi)'s GPUs, NVIDIA PCI devices).
    type: dict
    required: true
  minimums:
    description:
      - The minimums per role, C(cpus), C(memory_mb), C(disk_free_mb) and C(gpus); a missing key is not checked.
    type: dict
    default: {}
    suboptions:
      control_plane:
        description: Minimums of control-plane hosts.
        type: dict
      edge:
        description: Minimums of edge hosts.
        type: dict
  control_planes:
    description: Cluster name -> the hosts meant to run its control plane; each must name exactly one.
    type: dict
    default: {}
  install_dir:
    description: Where the appliance installs on each host; free disk is measured on the filesystem holding it.
    type: str
    default: /opt/gpufabric/appliance
  binaries_dir:
    description: The folder on the controller holding the control-plane binaries.
    type: path
  kubernetes_version:
    description: The pinned version C(kube-apiserver --version) must print.
    type: str
    default: v1.20.2
attributes:
  check_mode:
    support: full
    description: The module changes nothing in either mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
notes:
  - The probe script and the gathering of facts belong to the C(gpufabric.platform.appliance) role (its C(preflight)
    entry point), which calls this module.
"""

EXAMPLES = r"""
- name: Check every host before any host changes
  gpufabric.platform.appliance_preflight:
    hosts:
      leader-1: {role: control_plane, address: 10.0.0.10, facts: "{{ hostvars['leader-1'].ansible_facts }}"}
      edge-1: {role: edge, address: 10.0.0.11, facts: "{{ hostvars['edge-1'].ansible_facts }}"}
    minimums:
      control_plane: {cpus: 4, memory_mb: 8192, disk_free_mb: 20480}
      edge: {cpus: 8, memory_mb: 32768, gpus: 1}
    control_planes: {hub: [leader-1]}
    binaries_dir: /srv/kubernetes/bin
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
hosts:
  description: Each reachable host's facts as the platform records them.
  returned: always
  type: dict
  sample:
    edge-1: {architecture: AMD64, cpus: 64, memory_mb: 515000, disk_free_mb: 800000, os: Debian 12,
             address: 10.0.0.11, machine_id: 3d12..., gpu_count: 8, gpu_source: nvidia-smi,
             gpus: [{family: NVIDIA-A100, model: NVIDIA-A100-SXM4-80GB, count: 8, memory_mib: 81920}]}
binaries:
  description: What the controller found in O(binaries_dir).
  returned: when a control-plane host is in the run
  type: dict
  sample: {path: /srv/kubernetes/bin, version: v1.20.2, architecture: AMD64,
           checksums: {kube-apiserver: 5f0c...}}
"""

import hashlib
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpufabric.platform.plugins.module_utils.core.appliance import (
    BINARIES, CONTROL_PLANE, binary_version, elf_architecture, host_facts, host_summary, preflight_errors)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_binaries(path):
    """What the folder holds: which binaries are missing, kube-apiserver's --version and its architecture."""
    found = {"path": path, "exists": bool(path) and os.path.isdir(path), "missing": [], "version_output": "",
             "architecture": ""}
    if not found["exists"]:
        return found
    found["missing"] = [name for name in BINARIES if not os.access(os.path.join(path, name), os.X_OK)]
    found["checksums"] = dict((name, _sha256(os.path.join(path, name))) for name in BINARIES
                              if name not in found["missing"])
    apiserver = os.path.join(path, "kube-apiserver")
    if "kube-apiserver" not in found["missing"]:
        with open(apiserver, "rb") as handle:
            found["architecture"] = elf_architecture(handle.read(20))
        try:
            out = subprocess.run([apiserver, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=60, check=False)
            found["version_output"] = out.stdout.decode("utf-8", "replace").strip()
        except (OSError, subprocess.SubprocessError) as error:
            found["version_output"] = "cannot run it: %s" % error
    return found


def main():
    host_options = dict(role=dict(type="str", default="edge", choices=["control_plane", "edge"]),
                        reachable=dict(type="bool", default=True), address=dict(type="str"),
                        facts=dict(type="dict", default={}), probe=dict(type="str", default=""))
    module = AnsibleModule(argument_spec=dict(
        hosts=dict(type="dict", required=True),
        minimums=dict(type="dict", default={}, options=dict(control_plane=dict(type="dict"), edge=dict(type="dict"))),
        control_planes=dict(type="dict", default={}),
        install_dir=dict(type="str", default="/opt/gpufabric/appliance"),
        binaries_dir=dict(type="path"),
        kubernetes_version=dict(type="str", default="v1.20.2"),
    ), supports_check_mode=True)
    params = module.params
    hosts, errors = {}, []
    for name, raw in sorted(params["hosts"].items()):
        unknown = sorted(set(raw or {}) - set(host_options))
        if not isinstance(raw, dict) or unknown:
            errors.append("hosts.%s: expected a mapping of %s%s" % (name, ", ".join(host_options),
                                                                    "; unknown: " + ", ".join(unknown) if unknown
                                                                    else ""))
            continue
        entry = dict(role=raw.get("role") or "edge", reachable=raw.get("reachable", True) is not False,
                     address=raw.get("address") or "")
        facts = raw.get("facts") or {}
        entry["facts"] = host_facts(name, facts, raw.get("probe") or "", params["install_dir"]) if facts else None
        if entry["facts"] and entry["address"]:
            entry["facts"]["address"] = entry["address"]  # the address the run uses (checked to be the host's own)
        hosts[name] = entry
    binaries = None
    if any(entry["role"] == CONTROL_PLANE for entry in hosts.values()):
        binaries = inspect_binaries(params.get("binaries_dir") or "")
    errors += preflight_errors(hosts, params["minimums"], params["control_planes"], binaries,
                               params["kubernetes_version"])
    result = {"changed": False,
              "hosts": dict((name, host_summary(entry["facts"])) for name, entry in hosts.items() if entry["facts"])}
    if binaries is not None:
        result["binaries"] = {"path": binaries["path"], "architecture": binaries["architecture"],
                              "version": binary_version(binaries["version_output"]),
                              "checksums": binaries.get("checksums") or {}}
    if errors:
        module.fail_json(msg="preflight found %d problem(s); no host was changed:\n%s"
                         % (len(errors), "\n".join(errors)), errors=errors, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
