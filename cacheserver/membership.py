"""Ring membership from DNS: the members of a Kubernetes headless Service, by stable name.

The Service's A/AAAA records are the pods' IPs, which change on every restart. A member
named by its IP would come back at new ring positions and move its keys; so each
address is named by its reverse lookup, which for a StatefulSet pod behind its
governing Service is ``<pod>.<service>.<namespace>.svc.<zone>``, kept as
``<pod>.<service>``: the name the pod gives itself (config.member_url) whatever the
namespace and cluster domain.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from cacheserver.peers import PeerPicker

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]
ReverseLookup = Callable[[str], tuple[str, list[str], list[str]]]


def addresses(name: str, port: int) -> list[str]:
    """Addresses returns the sorted addresses name resolves to."""
    infos = socket.getaddrinfo(name, port, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def stable_name(address: str, service: str, lookup: ReverseLookup = socket.gethostbyaddr) -> str:
    """Stable_name is <pod>.<service> when address's reverse lookup names a pod of service."""
    try:
        host, aliases, _ = lookup(address)
    except OSError:
        return address  # no PTR record: still a member, by address
    for fqdn in (host, *aliases):
        labels = fqdn.rstrip(".").split(".")
        if len(labels) >= 2 and labels[1] == service:
            return f"{labels[0]}.{labels[1]}"
    return address


def resolve(name: str, port: int) -> list[str]:
    """Resolve returns the sorted stable names of the members name resolves to."""
    service = name.split(".", 1)[0]
    return sorted({stable_name(a, service) for a in addresses(name, port)})


def member_url(address: str, port: int) -> str:
    """Member_url is the base URL of the member at address (a name or an IP)."""
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


class DnsMembers:
    """DnsMembers re-resolves name every refresh_s seconds and gives the members to picker.

    A failed or empty answer keeps the last members: a DNS hiccup must not shrink the
    ring to one and send every key to the origin.
    """

    def __init__(
        self, picker: PeerPicker, service: tuple[str, int], refresh_s: float,
        resolver: Resolver = resolve,
    ) -> None:  # fmt: skip
        # service: the headless Service's name and the members' peer port (dns_target).
        self.picker = picker
        (self.name, self.port), self.refresh_s = service, refresh_s
        self._resolver = resolver
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Refresh resolves once and reports whether the members changed."""
        try:
            hosts = self._resolver(self.name, self.port)
        except OSError as ex:
            log.warning("peer DNS lookup failed", extra={"dns_name": self.name, "error": str(ex)})
            return False
        if not hosts:
            return False
        changed = self.picker.set_members(member_url(h, self.port) for h in hosts)
        if changed:
            log.info("ring members changed", extra={"members": list(self.picker.members())})
        return changed

    def start(self) -> None:
        """Start resolves now and then keeps resolving on a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="peers-dns", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.refresh()

    def stop(self) -> None:
        """Stop ends the refresh thread."""
        self._stop.set()
