"""The appliance's preflight decision: facts and GPUs of each host against the minimums of its role, the control
planes, and the binaries; every problem of every host reported at once, with the fact, its value and the minimum."""

from __future__ import annotations

import struct

from ansible_collections.gpufabric.platform.plugins.module_utils.core.appliance import (
    binaries_errors, binary_version, disk_free_mb, elf_architecture, gpus_from_nvidia_smi, gpus_from_pci,
    host_facts, parse_probe, plan_crds, preflight_errors)

MIB = 1024 * 1024
INSTALL = "/opt/gpufabric/appliance"
TOOLS = "tool openssl /usr/bin/openssl\ntool start-stop-daemon /usr/sbin/start-stop-daemon\n"


def ansible_facts(arch="x86_64", cpus=32, memory_mb=131072, free_mb=500000, address="10.0.0.2", mounts=None,
                  service_mgr="sysvinit"):
    return {"architecture": arch, "processor_vcpus": cpus, "memtotal_mb": memory_mb, "system": "Linux",
            "distribution": "Debian", "distribution_version": "12.8", "os_family": "Debian",
            "default_ipv4": {"address": address}, "all_ipv4_addresses": [address, "127.0.0.1"],
            "machine_id": "m-" + address, "service_mgr": service_mgr,
            "mounts": mounts if mounts is not None else [{"mount": "/", "size_available": free_mb * MIB}]}


def host(role="edge", probe=TOOLS, reachable=True, address="10.0.0.2", **facts):
    raw = ansible_facts(address=address, **facts)
    return {"role": role, "reachable": reachable, "address": address,
            "facts": host_facts("h", raw, probe, INSTALL) if reachable else None}


MINIMUMS = {"control_plane": {"cpus": 4, "memory_mb": 8192, "disk_free_mb": 20000, "gpus": 0},
            "edge": {"cpus": 8, "memory_mb": 65536, "disk_free_mb": 1000, "gpus": 1}}
A100_PROBE = TOOLS + "tool nvidia-smi /usr/bin/nvidia-smi\n" + "".join(
    "nvidia-smi NVIDIA A100-SXM4-80GB, 81920\n" for unused in range(8))
BINARIES = {"path": "/srv/bin", "exists": True, "missing": [], "version_output": "Kubernetes v1.20.2",
            "architecture": "AMD64"}


def test_a_well_sized_appliance_passes():
    hosts = {"leader": host("control_plane"), "gpu-1": host(probe=A100_PROBE, address="10.0.0.3")}
    assert preflight_errors(hosts, MINIMUMS, {"hub": ["leader"]}, BINARIES, "v1.20.2") == []


def test_each_fact_below_its_minimum_names_the_host_the_fact_its_value_and_the_minimum():
    hosts = {"gpu-1": host(cpus=4, memory_mb=32000, free_mb=800)}
    assert preflight_errors(hosts, MINIMUMS, {}) == [
        "gpu-1: cpus is 4, below the minimum 8 (appliance_edge_minimums.cpus)",
        "gpu-1: memory_mb is 32000, below the minimum 65536 (appliance_edge_minimums.memory_mb)",
        "gpu-1: disk_free_mb is 800, below the minimum 1000 (appliance_edge_minimums.disk_free_mb)",
        "gpu-1: gpus is 0, below the minimum 1 (appliance_edge_minimums.gpus)",
    ]


def test_control_plane_hosts_are_held_to_their_own_minimums():
    hosts = {"leader": host("control_plane", cpus=2, probe=TOOLS, free_mb=10000)}
    errors = preflight_errors(hosts, MINIMUMS, {"hub": ["leader"]}, BINARIES, "v1.20.2")
    assert errors == ["leader: cpus is 2, below the minimum 4 (appliance_control_plane_minimums.cpus)",
                      "leader: disk_free_mb is 10000, below the minimum 20000 "
                      "(appliance_control_plane_minimums.disk_free_mb)"]


def test_an_unreachable_host_is_named_with_its_address_among_the_other_problems():
    hosts = {"gpu-1": host(reachable=False, address="10.0.0.9"), "gpu-2": host(cpus=1, probe=A100_PROBE)}
    assert preflight_errors(hosts, MINIMUMS, {}) == [
        "gpu-1 (10.0.0.9): unreachable - Ansible could not connect or gather its facts; no host was changed",
        "gpu-2: cpus is 1, below the minimum 8 (appliance_edge_minimums.cpus)"]


def test_each_cluster_needs_exactly_one_control_plane_host():
    hosts = {"a": host("control_plane"), "b": host("control_plane", address="10.0.0.3")}
    errors = preflight_errors(hosts, {}, {"hub": ["b", "a"], "edge-1": []}, BINARIES, "v1.20.2")
    assert errors == ["edge-1: the control plane runs on exactly one host; 0 are given (none)",
                      "hub: the control plane runs on exactly one host; 2 are given (a, b)"]


def test_a_control_plane_host_needs_openssl_and_a_way_to_run_services():
    hosts = {"leader": host("control_plane", probe="tool openssl /usr/bin/openssl\n")}
    assert preflight_errors(hosts, {}, {"hub": ["leader"]}, BINARIES, "v1.20.2") == [
        "leader: no systemd and no start-stop-daemon (service manager: sysvinit); the control plane needs one of "
        "them to run as services"]
    hosts = {"leader": host("control_plane", probe="", service_mgr="systemd")}
    assert preflight_errors(hosts, {}, {"hub": ["leader"]}, BINARIES, "v1.20.2") == [
        "leader: openssl is missing (it makes the cluster's CA, certificates and tokens on the host); install it "
        "(Debian: apt-get install openssl)"]


def test_an_unsupported_architecture_and_an_address_that_is_not_the_hosts_own_are_refused():
    entry = host(arch="s390x", cpus=64, memory_mb=131072, probe=A100_PROBE)
    entry["address"] = "192.0.2.1"
    assert preflight_errors({"odd": entry}, MINIMUMS, {}) == [
        "odd: architecture is s390x; the platform runs on AMD64 and ARM64",
        "odd: address 192.0.2.1 is not one of the host's own (10.0.0.2, 127.0.0.1); the control plane binds it "
        "and edge hosts register with it"]


def test_binaries_that_are_missing_or_of_another_version_or_architecture_fail_preflight():
    hosts = {"leader": host("control_plane", arch="aarch64")}
    missing = {"path": "/nowhere", "exists": False}
    assert preflight_errors(hosts, {}, {"hub": ["leader"]}, missing, "v1.20.2") == [
        "control-plane binaries: /nowhere does not exist on the controller; give a folder holding etcd, "
        "kube-apiserver, kube-controller-manager, kube-scheduler (appliance_binaries_dir), e.g. the one "
        "`make control-plane` prints"]
    assert preflight_errors(hosts, {}, {"hub": ["leader"]}, BINARIES, "v1.21.0") == [
        "leader: architecture is ARM64, but the control-plane binaries are built for AMD64",
        "control-plane binaries: /srv/bin/kube-apiserver --version says v1.20.2; the pinned version is v1.21.0 "
        "(appliance_kubernetes_version)"]
    assert binaries_errors(dict(BINARIES, missing=["etcd"]), "v1.20.2") == [
        "control-plane binaries: /srv/bin has no executable etcd; it must hold etcd, kube-apiserver, "
        "kube-controller-manager, kube-scheduler"]


def test_binaries_are_not_checked_when_no_control_plane_host_is_in_the_run():
    assert preflight_errors({"gpu-1": host(probe=A100_PROBE, cpus=64)}, MINIMUMS, {}, {"exists": False},
                            "v1.20.2") == []


def test_gpus_come_from_nvidia_smi_grouped_by_model():
    text = "NVIDIA A100-SXM4-80GB, 81920\nNVIDIA A100-SXM4-80GB, 81920\nNVIDIA L40S, 46068\n\n"
    assert gpus_from_nvidia_smi(text) == [
        {"family": "NVIDIA-A100", "model": "NVIDIA-A100-SXM4-80GB", "count": 2, "memory_mib": 81920},
        {"family": "NVIDIA-L40S", "model": "NVIDIA-L40S", "count": 1, "memory_mib": 46068}]


def test_gpus_come_from_nvidia_pci_display_and_3d_controllers_only():
    devices = [{"address": "0000:17:00.0", "vendor": "0x10de", "device": "0x20b2", "class": "0x030200"},
               {"address": "0000:17:00.1", "vendor": "0x10de", "device": "0x22bc", "class": "0x040300"},  # audio
               {"address": "0000:31:00.0", "vendor": "0x10de", "device": "0x20b2", "class": "0x030200"},
               {"address": "0000:65:00.0", "vendor": "0x10de", "device": "0x9999", "class": "0x030000"},
               {"address": "0000:00:02.0", "vendor": "0x8086", "device": "0x0bd0", "class": "0x030000"}]
    assert gpus_from_pci(devices) == [
        {"family": "NVIDIA-A100", "model": "NVIDIA-A100-SXM4-80GB", "count": 2, "memory_mib": 81920},
        {"family": "NVIDIA-UNKNOWN-9999", "model": "NVIDIA-UNKNOWN-9999", "count": 1}]


def test_the_probe_prefers_nvidia_smi_and_falls_back_to_pci_when_it_fails():
    pci = "pci 0000:17:00.0 0x10de 0x2330 0x030200\n"
    smi = "tool nvidia-smi /x\nnvidia-smi NVIDIA H100 80GB HBM3, 81559\n"
    with_driver = host_facts("h", ansible_facts(), TOOLS + smi + pci, INSTALL)
    assert (with_driver["gpu_source"], with_driver["gpu_count"]) == ("nvidia-smi", 1)
    broken = host_facts("h", ansible_facts(), TOOLS + "tool nvidia-smi /x\nnvidia-smi-failed\n" + pci, INSTALL)
    assert (broken["gpu_source"], broken["gpus"][0]["model"]) == ("pci", "NVIDIA-H100-80GB-HBM3")
    assert parse_probe(TOOLS)["tools"] == {"openssl": "/usr/bin/openssl",
                                           "start-stop-daemon": "/usr/sbin/start-stop-daemon"}


def test_free_disk_is_read_on_the_mount_that_holds_the_install_folder():
    mounts = [{"mount": "/", "size_available": 5 * 1024 * MIB}, {"mount": "/opt", "size_available": 9 * MIB},
              {"mount": "/opt/gpufabric", "size_available": 700 * MIB}, {"mount": "/optical", "size_available": 1}]
    assert disk_free_mb(mounts, "/opt/gpufabric/appliance") == 700
    assert disk_free_mb(mounts, "/var/lib") == 5 * 1024
    assert disk_free_mb([], "/opt") is None


def test_versions_and_elf_architectures_are_read_from_the_binaries():
    assert binary_version("Kubernetes v1.20.2\n") == "v1.20.2"
    assert binary_version("no version here") == ""
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HH", 2, 0xB7)
    assert elf_architecture(header) == "ARM64"
    assert elf_architecture(header[:18] + struct.pack("<H", 0x3E)) == "AMD64"
    assert elf_architecture(b"#!/bin/sh\necho v1.20.2\n") == ""


def test_only_crds_are_applied_to_a_new_cluster_and_one_already_there_is_not_written_again():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "klusterlets.operator.open-cluster-management.io"}, "spec": {"group": "x"}}
    errors, writes = plan_crds([crd, {"apiVersion": "v1", "kind": "Secret"}], {})
    assert errors == ["crds[1]: expected an apiextensions.k8s.io/v1 CustomResourceDefinition with a name, got v1 "
                      "Secret"]
    assert [w.key for w in writes] == ["CustomResourceDefinition/klusterlets.operator.open-cluster-management.io"]
    stored = dict(writes[0].body, status={"conditions": []})
    assert plan_crds([crd], {crd["metadata"]["name"]: stored}) == ([], [])
