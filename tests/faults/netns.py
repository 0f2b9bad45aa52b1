"""Real network namespaces for fault tests: one per process, joined by a bridge.

Every name starts with ``cas16-`` and every address is in 10.216.0.0/24. The bridge
``cas16br`` lives in a namespace of its own (``cas16-sw``), so nothing is added to the
host's own network and no test traffic leaves the namespaces. Faults are iptables rules
inside one namespace: a black hole (every packet in dropped, no RST), loss (a random
share dropped both ways), or the peer ports of the others cut off. Needs root.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

PREFIX: Final = "cas16-"
SWITCH: Final = PREFIX + "sw"
BRIDGE: Final = "cas16br"
SUBNET: Final = "10.216.0"
FIRST_HOST: Final = 10
CLONE_NEWNET: Final = 0x40000000
COMMAND_TIMEOUT_S: Final = 10

T = TypeVar("T")


def unavailable() -> str | None:
    """Unavailable returns why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = PREFIX + "probe"
    try:
        _run("ip", "netns", "add", probe)
        _run("ip", "netns", "exec", probe, "iptables", "-S")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as ex:
        return f"ip netns / iptables failed: {ex}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S)


def remove_stale() -> None:
    """Remove_stale deletes every cas16-* namespace (a killed run's leftovers)."""
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        name = line.split(" ", 1)[0]
        if name.startswith(PREFIX):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


class Net:
    """Net is a bridge and one namespace per name, with addresses 10.216.0.10 upwards."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def ns(self, name: str) -> str:
        """Ns is the namespace of a name."""
        return PREFIX + name

    def addr(self, name: str) -> str:
        """Addr is a name's address."""
        return f"{SUBNET}.{FIRST_HOST + self.names.index(name)}"

    def up(self) -> Net:
        """Up removes stale namespaces, then makes the bridge and every namespace."""
        remove_stale()
        _run("ip", "netns", "add", SWITCH)
        _run("ip", "-n", SWITCH, "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "-n", SWITCH, "link", "set", BRIDGE, "up")
        for name in self.names:
            ns, port = self.ns(name), f"v{self.names.index(name)}"
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", SWITCH, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                 "netns", ns)  # fmt: skip
            _run("ip", "-n", SWITCH, "link", "set", port, "master", BRIDGE, "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.addr(name)}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def down(self) -> None:
        """Down deletes every namespace (and with them the veths and the bridge)."""
        remove_stale()

    def exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        """Exec_argv runs argv inside a name's namespace (ip execs it: same pid)."""
        return ["ip", "netns", "exec", self.ns(name), *argv]

    def iptables(self, name: str, *rule: str) -> None:
        """Iptables runs one iptables command in a name's namespace."""
        _run("ip", "netns", "exec", self.ns(name), "iptables", "-w", *rule)

    def blackhole(self, name: str) -> None:
        """Blackhole drops every packet that reaches the name: no answer, no RST."""
        self.iptables(name, "-A", "INPUT", "-j", "DROP")

    def lossy(self, name: str, share: float) -> None:
        """Lossy drops a random share of the name's packets, both ways."""
        for chain in ("INPUT", "OUTPUT"):
            self.iptables(name, "-A", chain, "-m", "statistic", "--mode", "random",
                          "--probability", f"{share:g}", "-j", "DROP")  # fmt: skip

    def cut_ports(self, name: str, ports: Sequence[int]) -> None:
        """Cut_ports drops the name's packets to and from others' ports (e.g. peer ports)."""
        for port in ports:
            self.iptables(name, "-A", "OUTPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP")
            self.iptables(name, "-A", "INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP")

    def heal(self, name: str) -> None:
        """Heal removes every rule from the name's namespace."""
        self.iptables(name, "-F")


def enter(ns: str) -> None:
    """Enter moves the calling thread (only) into namespace ns: its new sockets live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(ns: str, fn: Callable[[], T]) -> T:
    """Run_in calls fn on a new thread inside namespace ns and returns its result."""
    result: list[T] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            enter(ns)
            result.append(fn())
        except BaseException as ex:  # noqa: BLE001 - re-raised on the caller's thread
            errors.append(ex)

    thread = threading.Thread(target=body, name=f"in-{ns}")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
