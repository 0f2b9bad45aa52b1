import hashlib
import os
import shutil
from pathlib import Path

import pytest

from cascommon.digest import parse_digest
from casserver.blobfile import TempBlob
from casserver.storage import BlobStore, StorageFull
from tests.support import is_lock

DATA = b"content-addressed bytes"
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA1 = hashlib.sha1(DATA).hexdigest()


def names(root: Path) -> set[str]:
    """Every file under root but workspace locks (no data), as relative paths."""
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not is_lock(p)
    }


def write_temp(store: BlobStore, data: bytes = DATA) -> TempBlob:
    temp = store.create_temp()
    temp.write(data)
    return temp


def test_layout_fans_out_by_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert store.path(parse_digest(SHA256)) == tmp_path / "sha256" / SHA256[:2] / SHA256
    assert store.path(parse_digest(SHA1)) == tmp_path / "sha1" / SHA1[:2] / SHA1
    assert {p.name for p in tmp_path.iterdir()} == {"tmp", "sha256", "sha1"}


def test_commit_links_the_blob_and_removes_the_temp_file(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    temp = write_temp(store)
    assert names(tmp_path) == {temp.path.relative_to(tmp_path).as_posix()}
    assert temp.path.parent.parent == tmp_path / "tmp"  # in this process's workspace
    assert store.commit(temp, SHA256) == {"sha256"}
    assert names(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}"}
    assert store.size(parse_digest(SHA256)) == len(DATA)
    blob = store.open(parse_digest(SHA256))
    assert blob is not None
    with blob:
        assert blob.read() == DATA


def test_sha1_alias_is_a_hard_link_to_the_same_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert store.commit(write_temp(store), SHA256, [parse_digest(SHA1)]) == {"sha256", "sha1"}
    main, alias = store.path(parse_digest(SHA256)), store.path(parse_digest(SHA1))
    assert os.stat(main).st_ino == os.stat(alias).st_ino
    assert store.usage() == (1, len(DATA))  # the link is not a second blob


def test_commit_never_rewrites_a_stored_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.commit(write_temp(store), SHA256)
    inode = os.stat(store.path(parse_digest(SHA256))).st_ino
    assert store.commit(write_temp(store), SHA256) == frozenset()
    assert os.stat(store.path(parse_digest(SHA256))).st_ino == inode
    assert names(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}"}


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with write_temp(store) as temp:
        assert temp.size == len(DATA)
    assert names(tmp_path) == set()
    temp.abort()  # twice is harmless


def test_absent_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert store.size(parse_digest(SHA256)) is None
    assert store.open(parse_digest(SHA1)) is None


def test_reserve_refuses_uploads_below_the_free_space_floor(tmp_path: Path) -> None:
    BlobStore(tmp_path, min_free_bytes=0).reserve(1)
    full = BlobStore(tmp_path, min_free_bytes=1 << 62)
    with pytest.raises(StorageFull):
        full.reserve(0)
    temp = write_temp(full)
    with pytest.raises(StorageFull):
        full.commit(temp, SHA256)  # checked again once the bytes are on disk
    assert names(tmp_path) == set()


def die(store: BlobStore) -> None:
    """Die releases store's workspace lock as its process's death would."""
    fd = store._workspace._lock_fd
    assert fd is not None
    os.close(fd)


def test_sweep_removes_a_dead_processes_temp_files(tmp_path: Path) -> None:
    dead = BlobStore(tmp_path)
    dead.commit(write_temp(dead), SHA256)
    leftover = write_temp(dead, b"half an upload")
    die(dead)
    assert BlobStore(tmp_path).sweep() == 1
    assert not leftover.path.exists()
    assert names(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}"}
    assert {p.name for p in (tmp_path / "tmp").iterdir()} == set()  # its lock too


def test_sweep_keeps_a_live_processes_uploads(tmp_path: Path) -> None:
    live = BlobStore(tmp_path)
    upload = write_temp(live, b"in progress")
    restarted = BlobStore(tmp_path)
    assert restarted.sweep() == 0
    assert live.sweep() == 0  # nor its own
    upload.write(b", and done")
    digest = hashlib.sha256(b"in progress, and done").hexdigest()
    live.commit(upload, digest)
    assert names(tmp_path) == {f"sha256/{digest[:2]}/{digest}"}


def test_sweep_finishes_what_an_interrupted_sweep_left(tmp_path: Path) -> None:
    orphan = tmp_path / "tmp" / "host-1-abcd"
    orphan.mkdir(parents=True)
    (orphan / "upload-x").write_bytes(b"partial")
    assert BlobStore(tmp_path).sweep() == 1
    assert not orphan.exists()


def test_loose_temp_files_go_only_once_surely_abandoned(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    fresh, old = tmp_path / "tmp" / "upload-fresh", tmp_path / "tmp" / "upload-old"
    fresh.write_bytes(b"an upload of the layout before workspaces, maybe live")
    old.write_bytes(b"abandoned")
    os.utime(old, (0, 0))
    assert store.sweep() == 1
    assert fresh.exists() and not old.exists()


def test_a_forked_process_claims_a_workspace_of_its_own(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    parent = write_temp(store).path.parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its workspace and leave without cleanup
        os.write(write, str(write_temp(store).path.parent).encode())
        os._exit(0)
    os.close(write)
    child = Path(os.read(read, 4096).decode())
    os.waitpid(pid, 0)
    os.close(read)
    assert child != parent and child.parent == parent.parent
    assert BlobStore(tmp_path).sweep() == 1  # the child is dead; the parent lives
    assert parent.exists() and not child.exists()


def test_window_reads_only_the_range(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.commit(write_temp(store), SHA256)
    blob = store.open(parse_digest(SHA256))
    assert blob is not None
    with blob.window(8, 9):
        assert os.lseek(blob.fileno(), 0, os.SEEK_CUR) == 8  # where sendfile starts
        assert blob.read(4) + blob.read() + blob.read() == DATA[8:17]
    with pytest.raises(ValueError):
        blob.fileno()


def test_check_writable_recovers_a_wiped_layout_but_never_makes_the_root(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = BlobStore(root)
    assert store.check_writable() is None
    shutil.rmtree(root)  # e.g. the volume went away; works even for root, unlike chmod
    assert "not writable" in (store.check_writable() or "")
    assert not root.exists()
    root.mkdir()  # the volume is back, empty: writes work again by themselves
    assert store.check_writable() is None
    assert store.commit(write_temp(store), SHA256) == {"sha256"}


def test_a_fanout_directory_made_elsewhere_is_synced_before_a_blob_in_it_is_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)
    # Another worker made the directory and may not have synced its parent yet.
    store.path(parse_digest(SHA256)).parent.mkdir()
    synced: list[Path] = []
    monkeypatch.setattr("casserver.storage.fsync_dir", synced.append)
    assert store.commit(write_temp(store), SHA256) == {"sha256"}
    assert synced == [tmp_path / "sha256", tmp_path / "sha256" / SHA256[:2]]
    # Once per directory and process: the next blob there syncs only its own link.
    synced.clear()
    store.commit(write_temp(store, DATA + b"!"), SHA256[:2] + "0" * 62)
    assert synced == [tmp_path / "sha256" / SHA256[:2]]


def test_a_sha1_name_added_to_a_stored_blob_is_a_link_to_it(tmp_path: Path) -> None:
    """Linked to the upload's temp file, it was a second copy the budget never counted and
    an eviction of the blob never removed."""
    store = BlobStore(tmp_path)
    store.commit(write_temp(store), SHA256)
    assert store.commit(write_temp(store), SHA256, [parse_digest(SHA1)]) == {"sha1"}
    sha256_path, sha1_path = store.path(parse_digest(SHA256)), store.path(parse_digest(SHA1))
    assert os.path.samefile(sha256_path, sha1_path)
    assert os.stat(sha256_path).st_nlink == 2


def test_usage_counts_only_regular_files_in_real_fanouts(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.commit(write_temp(store), SHA256)
    fanout = tmp_path / "sha256" / "ab"
    fanout.mkdir()
    (fanout / "dangling").symlink_to(tmp_path / "nowhere")  # stopped the server at start
    (fanout / "subdir").mkdir()
    os.mkfifo(fanout / "fifo")
    (tmp_path / "sha256" / "zz").symlink_to(tmp_path / "tmp")  # not walked as a fan-out
    (tmp_path / "tmp" / "big").write_bytes(b"x" * 10_000)
    assert store.usage() == (1, len(DATA))
