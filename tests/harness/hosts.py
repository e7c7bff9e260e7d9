"""Test hosts that behave like machines: network namespaces on a bridge, each with its own address, hostname,
sshd and install tree (/opt/gpufabric, /etc/gpufabric), so Ansible reaches them over SSH as it reaches machines.

Needs root (namespaces, a bridge) and Debian's openssh-server (tests/harness/install-packages.sh).
Only the hosts' addresses are ever contacted. Used by `make hosts-up` / `make hosts-down` and the
`test_hosts` pytest fixture.

    python -m tests.harness.hosts up   [--count 3] [--state .hosts]
    python -m tests.harness.hosts down [--state .hosts]
    eval "$(python -m tests.harness.hosts env [--state .hosts])"   # ANSIBLE_HOME and ANSIBLE_INVENTORY
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SUBNET_VARIABLE = "GPUFABRIC_HOSTS_SUBNET"
DEFAULT_SUBNET = "10.199.83.0/24"  # private, and far from the ranges Docker, Kubernetes and home routers use
PYTHON_ON_HOSTS = "/usr/bin/python3"
SSHD = "/usr/sbin/sshd"
# Shared by every sshd on the machine (privilege separation); the package creates it only at service start.
SSHD_RUN_DIR = Path("/run/sshd")
# The paths each host sees privately; these mount points are created on the machine if missing. /usr/local/sbin
# (on every root PATH) holds what a host's GPU driver tools answer (Host.give_gpus).
PRIVATE_DIRS = {"opt": Path("/opt/gpufabric"), "etc": Path("/etc/gpufabric"), "sbin": Path("/usr/local/sbin")}
# What `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` prints, one line per GPU; any
# other question fails, as it would for a driver that cannot answer it.
NVIDIA_SMI = """#!/bin/sh
case "$*" in
  *--query-gpu=name,memory.total*--format=csv,noheader,nounits*) printf '%s' '{lines}' ;;
  *) echo "nvidia-smi on a test host answers only --query-gpu=name,memory.total" >&2; exit 9 ;;
esac
"""
SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")

SSHD_CONFIG = """\
ListenAddress {address}
Port 22
HostKey {directory}/ssh_host_ed25519_key
PidFile {directory}/sshd.pid
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
UseDNS no
Subsystem sftp /usr/lib/openssh/sftp-server
"""

# With no reachable name server every lookup would wait for one (about 10 s per fact-gathering round);
# nothing listens on the host's own loopback, so a lookup that /etc/hosts cannot answer fails at once.
RESOLV_CONF = """\
# Test host: names come from /etc/hosts; there is no name server.
nameserver 127.0.0.1
options timeout:1 attempts:1
"""


def say(message: str) -> None:
    print(f"[hosts] {message}", file=sys.stderr, flush=True)


def default_subnet() -> str:
    return os.environ.get(SUBNET_VARIABLE, DEFAULT_SUBNET)


def _network(subnet: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(subnet)
    except ValueError as error:
        raise ValueError(f"test-host subnet {subnet!r} is not a network: {error}; "
                         f"set {SUBNET_VARIABLE} to a private /24 such as {DEFAULT_SUBNET}") from None
    if network.version != 4 or network.prefixlen != 24 or not network.is_private:
        raise ValueError(f"test-host subnet {subnet} must be a private IPv4 /24; "
                         f"set {SUBNET_VARIABLE} to one such as {DEFAULT_SUBNET}")
    return network


def _tag(subnet: str) -> str:
    """Prefix of the bridge, namespace and veth names: the subnet's third octet keeps two sets apart."""
    return f"gf{_network(subnet).network_address.packed[2]}"


def _run(argv: list, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and out.returncode:
        raise RuntimeError(f"`{' '.join(argv)}` failed (exit {out.returncode}): {out.stderr.strip()}")
    return out


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # started by another process (the CLI's `up`); init reaps it


def _link_exists(name: str) -> bool:
    return _run(["ip", "link", "show", name], check=False).returncode == 0


def _namespaces() -> set:
    return {line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()}


def _overlapping_route(network: ipaddress.IPv4Network) -> str:
    """A route of this machine that overlaps the subnet, or ''."""
    for line in _run(["ip", "-4", "route", "show", "table", "all"]).stdout.splitlines():
        for word in line.split()[:2]:  # "10.1.2.0/24 dev ..." or "local 10.1.2.3 dev ..."
            try:
                route = ipaddress.ip_network(word, strict=False)
            except ValueError:
                continue
            if route.prefixlen and route.overlaps(network):
                return line
            break
    return ""


def free_subnet(start: str | None = None, tries: int = 40) -> str:
    """The first /24 after `start` that no route of this machine and no other set of test hosts uses."""
    network = _network(start or default_subnet())
    for step in range(1, tries + 1):
        candidate = ipaddress.ip_network((int(network.network_address) + 256 * step, 24))
        if candidate.is_private and not _link_exists(f"{_tag(str(candidate))}-br") \
                and not _overlapping_route(candidate):
            return str(candidate)
    raise RuntimeError(f"no free /24 among the {tries} after {network}; run `make hosts-down` or set {SUBNET_VARIABLE}")


@dataclass(frozen=True)
class Host:
    """One test host: `directory` holds its sshd files and the trees it sees as /opt/gpufabric, /etc/gpufabric and
    /usr/local/sbin."""

    name: str
    address: str
    namespace: str
    directory: Path

    @property
    def opt(self) -> Path:
        """What the host sees as /opt/gpufabric."""
        return self.directory / "opt"

    @property
    def etc(self) -> Path:
        """What the host sees as /etc/gpufabric."""
        return self.directory / "etc"

    def give_gpus(self, model: str, memory_mib: int, count: int) -> None:
        """Make the host report `count` GPUs of `model` through nvidia-smi, as a machine with NVIDIA's driver does
        (the test hosts have no GPUs); count 0 takes the driver away again."""
        tool = self.directory / "sbin" / "nvidia-smi"
        if not count:
            tool.unlink(missing_ok=True)
            return
        tool.write_text(NVIDIA_SMI.format(lines="".join("%s, %d\n" % (model, memory_mib) for unused in range(count))))
        tool.chmod(0o755)


def inventory_document(hosts: list, key: Path, control_dir: Path, groups: dict | None = None) -> dict:
    """An Ansible inventory (as a dict) of these hosts, optionally grouped: {"leader": ["h1"], "edge": [...]}."""
    known = {host.name for host in hosts}
    unknown = sorted({name for members in (groups or {}).values() for name in members} - known)
    if unknown:
        raise ValueError(f"inventory groups name hosts that do not exist: {', '.join(unknown)} "
                         f"(hosts: {', '.join(sorted(known))})")
    document = {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
            "ansible_control_path_dir": str(control_dir),
            "ansible_python_interpreter": PYTHON_ON_HOSTS,
        },
        "hosts": {host.name: {"ansible_host": host.address} for host in hosts},
    }}
    if groups:
        document["all"]["children"] = {group: {"hosts": {name: {} for name in members}}
                                       for group, members in groups.items()}
    return document


@dataclass(frozen=True)
class Hosts:
    """`count` test hosts h1..hN on `subnet` (h1 gets its second address); state, keys and trees live in `state`."""

    state: Path
    count: int = 3
    subnet: str = field(default_factory=default_subnet)

    @property
    def hosts(self) -> list:
        network, tag = _network(self.subnet), _tag(self.subnet)
        return [Host(name=f"h{index}", address=str(network[index + 1]), namespace=f"{tag}-h{index}",
                     directory=self.state / f"h{index}") for index in range(1, self.count + 1)]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no test host {name!r}; hosts are h1..h{self.count}")

    @property
    def bridge(self) -> str:
        return f"{_tag(self.subnet)}-br"

    @property
    def gateway(self) -> str:
        return str(_network(self.subnet)[1])

    @property
    def key(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def inventory(self) -> Path:
        return self.state / "inventory.yml"

    @property
    def environment(self) -> dict:
        """Variables for ansible with these hosts: its home (temp files, facts cache) stays in the state folder."""
        return {"ANSIBLE_HOME": str(self.state / "ansible"), "ANSIBLE_INVENTORY": str(self.inventory)}

    def write_inventory(self, path: Path, groups: dict | None = None) -> Path:
        """Write an inventory of these hosts with the given groups, e.g. {"leader": ["h1"], "edge": ["h2", "h3"]}."""
        text = yaml.safe_dump(inventory_document(self.hosts, self.key, self.state / "cp", groups),
                              sort_keys=False)
        Path(path).write_text(text)
        return Path(path)

    def ssh(self, name: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a shell command on a host over SSH, as root with the harness's key."""
        argv = ["ssh", *SSH_OPTIONS, "-o", "BatchMode=yes", "-o", "ControlPath=none", "-i", str(self.key),
                f"root@{self.host(name).address}", command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @classmethod
    def recorded(cls, state: Path) -> "Hosts":
        """The hosts a previous `up` started in this state folder (the defaults when there is none)."""
        record = _read_record(state)
        return cls(state, record.get("count", 3), record.get("subnet", default_subnet()))

    def _record(self) -> dict:
        return _read_record(self.state)

    def _save(self, record: dict) -> None:
        (self.state / "hosts.json").write_text(json.dumps(record, indent=2))

    def running(self) -> bool:
        record = self._record()
        if record.get("subnet") != str(_network(self.subnet)) or record.get("count") != self.count:
            return False
        pids = record.get("pids", {})
        return all(_alive(pids.get(host.name, 0)) and _listening(host.address) for host in self.hosts) \
            and self.inventory.exists()

    def up(self) -> list:
        """Start the hosts unless they already run with this subnet and count; returns their records."""
        network = _network(self.subnet)
        if not 1 <= self.count <= 253:
            raise ValueError(f"test-host count {self.count} must be between 1 and 253 (one /24)")
        if self.running():
            say(f"{self.count} hosts already up on {network} (inventory {self.inventory})")
            return self.hosts
        self.down(quiet=True)
        self._check_free(network)
        started = time.monotonic()
        say(f"starting {self.count} hosts on {network} (bridge {self.bridge}; about 0.5 s)")
        self.state.mkdir(parents=True, exist_ok=True)
        # Each thing made is recorded once made, so `down` removes exactly those (a name taken meanwhile by
        # another set of hosts is never touched).
        record = {"subnet": str(network), "count": self.count, "made": [], "bridge": "", "namespaces": [],
                  "pids": {}}
        self._save(record)
        try:
            self._start(record)
        except BaseException:
            say("start-up failed; removing what was made")
            self.down(quiet=True)
            raise
        say(f"{self.count} hosts up in {time.monotonic() - started:.1f} s; inventory {self.inventory}; "
            f"environment: source {self.state / 'env.sh'}")
        return self.hosts

    def _start(self, record: dict) -> None:
        self._make_shared_dirs(record)
        self._save(record)
        self._make_key()
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        record["bridge"] = self.bridge
        self._save(record)
        _run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        for host in self.hosts:
            _run(["ip", "netns", "add", host.namespace])
            record["namespaces"].append(host.namespace)
            self._save(record)
            self._make_network(host)
            self._write_host_files(host)
            record["pids"][host.name] = self._start_sshd(host)
            self._save(record)
        for host in self.hosts:
            self._wait_listening(host, record["pids"][host.name])
            say(f"{host.name}: sshd listening on {host.address}:22")
        self.write_inventory(self.inventory)
        env = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in self.environment.items())
        (self.state / "env.sh").write_text(env)

    def down(self, quiet: bool = False) -> None:
        """Kill every process in the hosts' namespaces, remove namespaces, links and state.

        Only what this state folder's record names is touched: another set of hosts is never stopped.
        """
        record = self._record()
        ours = sorted(set(record.get("namespaces", [])) & _namespaces())
        for namespace in ours:
            killed = _kill_namespace(namespace)
            _run(["ip", "netns", "delete", namespace], check=False)
            if not quiet:
                say(f"{namespace}: stopped pids {killed}; namespace deleted")
        for name in record.get("namespaces", []):  # a veth's root end (named as its namespace) goes with it
            if _link_exists(name):
                _run(["ip", "link", "delete", name], check=False)
        bridge = record.get("bridge", "")
        if bridge and _link_exists(bridge):
            _run(["ip", "link", "delete", bridge])
            if not quiet:
                say(f"bridge {bridge} deleted")
        for pid in record.get("pids", {}).values():
            _reap(pid)
        self._remove_shared_dirs(record.get("made", []), quiet)
        if self.state.exists():
            _remove_tree(self.state)
            if not quiet:
                say(f"removed {self.state}")

    # -- steps of `up` -----------------------------------------------------------------------------------------

    def _check_free(self, network: ipaddress.IPv4Network) -> None:
        if _link_exists(self.bridge):
            raise RuntimeError(f"bridge {self.bridge} already exists: another set of test hosts uses {network}; "
                               f"stop it (`make hosts-down`) or choose another subnet with {SUBNET_VARIABLE}")
        route = _overlapping_route(network)
        if route:
            raise RuntimeError(f"test-host subnet {network} overlaps this machine's route `{route}`; "
                               f"choose another private /24 with {SUBNET_VARIABLE}")
        taken = sorted(_namespaces() & {host.namespace for host in self.hosts})
        if taken:
            raise RuntimeError(f"network namespaces {', '.join(taken)} already exist; "
                               f"remove them (`ip netns delete NAME`) or choose another subnet with {SUBNET_VARIABLE}")
        if os.geteuid() != 0:
            raise RuntimeError("test hosts need root (network namespaces, a bridge, bind mounts); "
                               "run as root, e.g. `sudo make hosts-up`")
        if not Path(SSHD).exists():
            raise RuntimeError(f"{SSHD} is missing; install openssh-server: bash tests/harness/install-packages.sh")

    def _make_shared_dirs(self, record: dict) -> None:
        for path in (SSHD_RUN_DIR, *PRIVATE_DIRS.values()):
            if not path.exists():
                path.mkdir(parents=True, mode=0o755)
                record["made"].append(str(path))

    def _remove_shared_dirs(self, made: list, quiet: bool) -> None:
        """Remove what `up` created on the machine, unless another sshd (another set of hosts) still needs it."""
        if not made:
            return
        if _test_host_sshds():
            if not quiet:
                say(f"left {', '.join(made)} in place: another set of test hosts still uses them")
            return
        for path in made:
            try:
                Path(path).rmdir()
            except OSError as error:
                say(f"could not remove {path}: {error.strerror}")

    def _make_key(self) -> None:
        """A fresh key pair per run: a committed private key would be checked out world-readable, which ssh refuses."""
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gpufabric-test-hosts", "-f", str(self.key)])
        (self.state / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        (self.state / "cp").mkdir(mode=0o700)

    def _make_network(self, host: Host) -> None:
        """The namespace's eth0 is one end of a veth pair; the other end is a port of the bridge."""
        _run(["ip", "link", "add", host.namespace, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
        _run(["ip", "link", "set", host.namespace, "master", self.bridge, "up"])
        inside = ["ip", "-n", host.namespace]
        _run([*inside, "addr", "add", f"{host.address}/24", "dev", "eth0"])
        _run([*inside, "link", "set", "eth0", "up"])
        _run([*inside, "link", "set", "lo", "up"])
        _run([*inside, "route", "add", "default", "via", self.gateway])

    def _write_host_files(self, host: Host) -> None:
        for sub in PRIVATE_DIRS:
            (host.directory / sub).mkdir(parents=True)
        names = "".join(f"{other.address}\t{other.name}\n" for other in self.hosts)
        (host.directory / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{names}")
        (host.directory / "resolv.conf").write_text(RESOLV_CONF)
        (host.directory / "sshd_config").write_text(SSHD_CONFIG.format(
            address=host.address, directory=host.directory, authorized_keys=self.state / "authorized_keys"))
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name,
              "-f", str(host.directory / "ssh_host_ed25519_key")])

    def _start_sshd(self, host: Host) -> int:
        """sshd in the host's network namespace plus its own mount and UTS namespaces (hostname, private trees)."""
        directory = host.directory
        binds = [(directory / sub, target) for sub, target in PRIVATE_DIRS.items()]
        binds += [(directory / "hosts", Path("/etc/hosts")), (directory / "resolv.conf", Path("/etc/resolv.conf"))]
        script = "; ".join([
            f"hostname {host.name}",
            *(f"mount --bind {shlex.quote(str(source))} {target}" for source, target in binds),
            f"exec {SSHD} -D -e -f {shlex.quote(str(directory / 'sshd_config'))}",
        ])
        argv = ["ip", "netns", "exec", host.namespace,
                "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-e", "-c", script]
        with open(directory / "sshd.log", "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        return process.pid  # `ip netns exec`, unshare and sh each exec the next, so this is sshd's pid

    def _wait_listening(self, host: Host, pid: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _listening(host.address):
                return
            if not _alive(pid):
                tail = (host.directory / "sshd.log").read_text(errors="replace")[-2000:] or "(empty)"
                raise RuntimeError(f"{host.name}: sshd (pid {pid}) exited during start-up; its log:\n{tail}")
            time.sleep(0.05)
        raise RuntimeError(f"{host.name}: sshd not answering on {host.address}:22 after {timeout:.0f} s; "
                           f"see {host.directory / 'sshd.log'}")


def _read_record(state: Path) -> dict:
    path = state / "hosts.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _listening(address: str) -> bool:
    """sshd answers with its version banner."""
    try:
        with socket.create_connection((address, 22), timeout=1) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _kill_namespace(namespace: str, grace: float = 5) -> list:
    """Every process in the namespace, not only sshd: per-connection children kept by ControlPersist outlive it.

    SIGTERM first, SIGKILL after `grace` seconds; the namespace is listed again each round, so a child
    forked meanwhile is caught too.
    """
    killed: list = []
    started = time.monotonic()
    while True:
        pids = [int(pid) for pid in _run(["ip", "netns", "pids", namespace], check=False).stdout.split()]
        if not pids:
            return killed
        elapsed = time.monotonic() - started
        if elapsed > 2 * grace:
            raise RuntimeError(f"namespace {namespace}: processes {pids} survived SIGKILL for {grace:.0f} s")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM if elapsed < grace else signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid)
        killed += [pid for pid in pids if pid not in killed]
        time.sleep(0.05)


def _test_host_sshds() -> list:
    """sshd processes in a network namespace other than this process's: those of other sets of test hosts."""
    own = os.readlink("/proc/self/ns/net")
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "exe") == SSHD and os.readlink(entry / "ns" / "net") != own \
                        and _alive(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _remove_tree(path: Path) -> None:
    """rm -rf, except that a folder still bind-mounted somewhere is emptied instead of removed."""
    def keep_busy(function, target, error):
        if function is os.rmdir and isinstance(error, OSError) and error.errno == errno.EBUSY:
            say(f"{target} is still mounted; emptied it instead")
            return
        raise error

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=keep_busy)  # pylint: disable=unexpected-keyword-arg
    else:
        shutil.rmtree(path, onerror=lambda function, target, info: keep_busy(function, target, info[1]))


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "env", "status"])
    parser.add_argument("--count", type=int, default=3, help="number of hosts, h1..hN (default: 3)")
    parser.add_argument("--state", default=str(REPO / ".hosts"), help="state folder (default: .hosts)")
    args = parser.parse_args(argv)
    state = Path(args.state).resolve()
    hosts = Hosts(state, args.count) if args.action == "up" else Hosts.recorded(state)
    if args.action == "up":
        for host in hosts.up():
            print(f"{host.name}\t{host.address}\t{host.directory}")
    elif args.action == "down":
        hosts.down()
    elif args.action == "env":
        for name, value in hosts.environment.items():
            print(f"export {name}={shlex.quote(value)}")
    else:
        print("running" if hosts.running() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
