"""DNS membership with a fake resolver, and the picker it feeds."""

from __future__ import annotations

from cacheserver.membership import DnsMembers, ReverseLookup, member_url, stable_name
from cacheserver.peers import Peer, PeerPicker
from cacheserver.upstream import Upstream


def new_peer(url: str) -> Peer:
    return Peer(Upstream(url, timeout_s=1.0), max_backoff_s=1.0)


class FakeResolver:
    """FakeResolver answers with whatever the test sets, or fails."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.fail = False

    def __call__(self, name: str, port: int) -> list[str]:
        if self.fail:
            raise OSError("no such host")
        return list(self.addresses)


def test_members_follow_dns_and_keep_self() -> None:
    picker = PeerPicker("http://10.0.0.1:18001", [], new_peer)
    resolver = FakeResolver()
    members = DnsMembers(picker, ("peers.svc", 18001), 10.0, resolver)
    resolver.addresses = ["10.0.0.2", "10.0.0.3"]
    assert members.refresh()
    assert picker.members() == (
        "http://10.0.0.1:18001", "http://10.0.0.2:18001", "http://10.0.0.3:18001",
    )  # fmt: skip
    assert not members.refresh()  # unchanged


def test_failed_or_empty_lookup_keeps_the_ring() -> None:
    picker = PeerPicker("http://10.0.0.1:18001", [], new_peer)
    resolver = FakeResolver()
    members = DnsMembers(picker, ("peers.svc", 18001), 10.0, resolver)
    resolver.addresses = ["10.0.0.1", "10.0.0.2"]
    members.refresh()
    resolver.fail = True
    assert not members.refresh()
    resolver.fail, resolver.addresses = False, []
    assert not members.refresh()
    assert len(picker.members()) == 2


def test_ipv6_urls() -> None:
    assert member_url("fd00::1", 18001) == "http://[fd00::1]:18001"


def test_self_always_owns_some_keys_and_peer_objects_are_reused() -> None:
    picker = PeerPicker("http://a:1/", ["http://b:1"], new_peer)
    assert picker.members() == ("http://a:1", "http://b:1")
    peer_b = picker.owner(next(k for k in map(str, range(1000)) if picker.owner(k)))
    picker.set_members(["http://b:1/", "http://c:1"])
    assert "http://a:1" in picker.members()
    owners = {picker.owner(str(k)) for k in range(1000)}
    assert None in owners and peer_b in owners


def ptr(answers: dict[str, str]) -> ReverseLookup:
    """Ptr is a fake reverse lookup: address -> the name a cluster DNS would answer."""

    def lookup(address: str) -> tuple[str, list[str], list[str]]:
        if address not in answers:
            raise OSError("no PTR record")
        return answers[address], [], [address]

    return lookup


def test_a_pod_address_is_named_by_pod_and_service() -> None:
    lookup = ptr({"10.244.0.7": "cacheserver-1.cacheserver-peers.cas.svc.cluster.local"})
    assert (
        stable_name("10.244.0.7", "cacheserver-peers", lookup) == "cacheserver-1.cacheserver-peers"
    )


def test_an_alias_of_the_service_is_used_when_the_primary_name_is_another() -> None:
    def lookup(address: str) -> tuple[str, list[str], list[str]]:
        return "10-244-0-7.other.cas.svc.example.org", ["m-0.peers.ns.svc.example.org."], []

    assert stable_name("10.244.0.7", "peers", lookup) == "m-0.peers"


def test_an_address_without_a_matching_name_stays_an_address() -> None:
    lookup = ptr({"10.0.0.2": "node-2.example.org"})
    assert stable_name("10.0.0.2", "peers", lookup) == "10.0.0.2"
    assert stable_name("10.0.0.3", "peers", lookup) == "10.0.0.3"


def test_a_restarted_member_at_a_new_address_keeps_its_url() -> None:
    before = ptr({"10.244.0.7": "cacheserver-1.cacheserver-peers.cas.svc.cluster.local"})
    after = ptr({"10.244.0.9": "cacheserver-1.cacheserver-peers.cas.svc.cluster.local"})
    urls = {
        member_url(stable_name(address, "cacheserver-peers", lookup), 18002)
        for address, lookup in (("10.244.0.7", before), ("10.244.0.9", after))
    }
    assert urls == {"http://cacheserver-1.cacheserver-peers:18002"}
