"""Bazel, a client nobody here wrote, gets remote cache hits from casserver and from the ring.

Each test builds the genrule workspace, cleans, and builds again: Bazel's own summary must
say the first build ran every action and the second took every one from the remote cache,
and the server must hold exactly the bytes Bazel produced, verified against their names.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from casserver.actionresult import named_blobs
from tests.integration.bazel.conftest import ACTIONS, Bazel
from tests.integration.cacheserver.conftest import CacheCluster
from tests.integration.casserver.test_eviction import evict
from tests.support import ServerProcess

TOKEN = "bazel-test-token"
READER = "verifier-read-token"
AUTH = f"--remote_header=Authorization=Bearer {TOKEN}"

pytestmark = pytest.mark.timeout(600)


def counter(base_url: str, name: str, **labels: str) -> float:
    """Counter sums a casserver counter's samples that carry the given labels."""
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def build_clean_build(bazel: Bazel, remote_cache: str, *flags: str) -> dict[str, bytes]:
    """Build_clean_build asserts Bazel's summaries: all local, then all remote cache hits."""
    first = bazel.build(remote_cache, *flags)
    assert first.total == ACTIONS and first.kinds.get("remote cache hit", 0) == 0, first
    built = bazel.outputs()
    bazel.run("clean")
    assert not (bazel.workspace / "bazel-bin").exists()
    second = bazel.build(remote_cache, *flags)
    assert second.kinds == {"remote cache hit": ACTIONS}, second
    fetched = bazel.outputs()
    assert fetched == built  # the same bytes came back from the cache
    assert len(fetched) == 5
    return fetched


def assert_stored_and_verified(origin: str, storage: Path, outputs: dict[str, bytes]) -> None:
    """Every output is on the origin's volume under its SHA-256, and its bytes hash to it."""
    reader = {"Authorization": f"Bearer {READER}"}
    for name, data in outputs.items():
        digest = hashlib.sha256(data).hexdigest()
        on_disk = storage / "sha256" / digest[:2] / digest
        assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == digest, name
        assert requests.get(f"{origin}/cas/{digest}", headers=reader, timeout=10).content == data, (
            name
        )
    assert counter(origin, "cas_upload_verification_failures_total") == 0
    # One action result per action, none content-addressed: they live apart from blobs.
    assert len(list((storage / "ac").rglob("*/*"))) == ACTIONS


def test_bazel_gets_remote_cache_hits_from_casserver(
    bazel: Bazel, casserver: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    storage = tmp_path / "cas-data"
    # Bazel sends the write token, which reads too; reads without a token are refused.
    env = {"CAS_WRITE_TOKEN": TOKEN, "CAS_READ_TOKEN": READER}
    origin = casserver(storage=storage, env=env).base_url
    outputs = build_clean_build(bazel, origin, AUTH)
    assert_stored_and_verified(origin, storage, outputs)
    hits = counter(origin, "cas_action_cache_requests_total", operation="get", result="hit")
    assert hits == ACTIONS
    assert counter(origin, "cas_http_requests_total", method="PUT", status="4xx") == 0


def test_bazel_gets_remote_cache_hits_through_a_three_member_ring(
    bazel: Bazel, cache_cluster: Callable[..., CacheCluster]
) -> None:
    cluster = cache_cluster(n=3, origin_env={"CAS_WRITE_TOKEN": TOKEN})
    storage = Path(cluster.origin.argv[cluster.origin.argv.index("--storage") + 1])
    outputs = build_clean_build(bazel, cluster.urls[0], AUTH)
    assert_stored_and_verified(cluster.origin.base_url, storage, outputs)
    # The second build's action results came from the origin through member 0, its blobs
    # through the ring, each fill hashed against its name on the way.
    origin = cluster.origin.base_url
    hits = counter(origin, "cas_action_cache_requests_total", operation="get", result="hit")
    assert hits == ACTIONS
    assert cluster.total("Gets") >= len(outputs)
    assert cluster.total("VerifyErrors") == 0


def test_bazel_runs_again_exactly_the_actions_whose_outputs_were_evicted(
    bazel: Bazel, casserver: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    storage = tmp_path / "cas-data"
    # A grace of 5 s; the budget is only reached by the pass asked for below.
    env = {"CAS_WRITE_TOKEN": TOKEN, "CAS_MAX_BYTES": "1TiB", "CAS_EVICT_GRACE_S": "5"}
    origin = casserver(storage=storage, env=env).base_url
    first = bazel.build(origin, AUTH)
    assert first.total == ACTIONS and first.kinds.get("remote cache hit", 0) == 0, first
    greeting = bazel.outputs()["greeting.txt"]
    time.sleep(6)  # every output out of the grace (5 s, plus how late uses are recorded)
    # The action results are written again (as a rebuild would) and the blobs greeting's
    # names are read: only the other actions' blobs are left out of the grace.
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for entry in (storage / "ac").rglob("*/*"):
        url = f"{origin}/ac/{entry.name}"
        assert requests.put(url, data=entry.read_bytes(), headers=auth, timeout=10).ok
        names = named_blobs(entry.read_bytes(), lambda d: None) or []
        if hashlib.sha256(greeting).hexdigest() in {d.hex for d in names}:
            for d in names:
                assert requests.get(f"{origin}/cas/{d.hex}", headers=auth, timeout=10).ok
    time.sleep(0.3)  # the read is recorded
    result = evict(storage, 1)
    assert result["evicted_ac"] == 0 and result["evicted_blobs"] >= 4, result
    complete = [e.name for e in (storage / "ac").rglob("*/*") if complete_result(storage, e)]
    assert len(complete) == 1  # greeting's
    bazel.run("clean")
    second = bazel.build(origin, AUTH)
    # Results naming a stored blob are hits; those naming an evicted one are run again.
    assert second.total == ACTIONS, second
    assert second.kinds.get("remote cache hit") == len(complete), (second, complete)
    incomplete = counter(origin, "cas_action_cache_requests_total", result="incomplete")
    assert incomplete == ACTIONS - len(complete)
    assert len(bazel.outputs()) == 5


def complete_result(storage: Path, entry: Path) -> bool:
    """Return whether every blob the ActionResult in entry names is stored."""
    names = named_blobs(entry.read_bytes(), lambda d: None)
    assert names is not None  # these results name no output directory
    return all((storage / "sha256" / d.hex[:2] / d.hex).is_file() for d in names)
