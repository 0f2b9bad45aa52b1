"""An action result's hit costs what its distinct blobs cost, never what it repeats."""

from __future__ import annotations

import hashlib

from cascommon.digest import SHA256, Digest
from casserver.actionresult import MAX_TREE_BYTES, ActionResult, Tree, TreeTooBig, named_blobs

FILE = "a" * 64


def tree_blob(files: int) -> bytes:
    tree = Tree()
    for i in range(files):
        node = tree.root.files.add(name=f"f{i}")  # type: ignore[attr-defined]
        node.digest.hash, node.digest.size_bytes = FILE, 1
    data: bytes = tree.SerializeToString()
    return data


def entry_naming(tree: bytes, times: int) -> bytes:
    result = ActionResult()
    for i in range(times):
        directory = result.output_directories.add(path=f"d{i}")  # type: ignore[attr-defined]
        directory.tree_digest.hash = hashlib.sha256(tree).hexdigest()
        directory.tree_digest.size_bytes = len(tree)
    data: bytes = result.SerializeToString()
    return data


def test_a_tree_named_many_times_is_read_once_and_its_files_named_once() -> None:
    tree = tree_blob(1000)
    reads: list[Digest] = []

    def read(digest: Digest) -> bytes:
        reads.append(digest)
        return tree

    names = named_blobs(entry_naming(tree, 1000), read)
    tree_digest = Digest(SHA256, hashlib.sha256(tree).hexdigest())
    assert reads == [tree_digest]
    assert names is not None and sorted(names, key=str) == [Digest(SHA256, FILE), tree_digest]


def test_trees_over_the_bound_make_a_miss() -> None:
    def too_big(digest: Digest) -> bytes:
        raise TreeTooBig(digest.hex)

    assert named_blobs(entry_naming(b"t", 1), too_big) is None
    big = b"\x00" * 16  # what the read returned counts against the bound
    assert named_blobs(entry_naming(big, 1), lambda d: big * (MAX_TREE_BYTES // 16 + 1)) is None
