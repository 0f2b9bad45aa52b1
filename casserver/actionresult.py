"""The blobs a Bazel ``ActionResult`` names, read with the protobuf library.

An action result names its output files, the ``Tree`` of each output directory (a blob
that names the directory's files in turn) and its stdout and stderr by digest. The
messages are the few of REAPI's ``build.bazel.remote.execution.v2`` that casserver needs
(``proto/remote_execution.proto``, same field numbers); their descriptors are built here
at import, so there is no generated code to keep in step with a protoc version. Fields
casserver does not declare are kept as unknown fields and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from cascommon.digest import SHA256, Digest

PACKAGE: Final = "build.bazel.remote.execution.v2"
# Tree bytes one entry may make a hit read and parse (a Tree of about 600,000 files): past
# it the entry is a miss, so 8 KB naming one 4 MB Tree 100 times is not 8 s of CPU per GET.
MAX_TREE_BYTES: Final = 64 << 20
_HEX64: Final = re.compile(r"[0-9a-f]{64}")

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS: Final = {"string": _F.TYPE_STRING, "int64": _F.TYPE_INT64, "int32": _F.TYPE_INT32}
# Each message's fields as "name number type"; a leading * marks a repeated field.
_MESSAGES: Final = {
    "Digest": ["hash 1 string", "size_bytes 2 int64"],
    "OutputFile": ["path 1 string", "digest 2 Digest"],
    "OutputDirectory": ["path 1 string", "tree_digest 3 Digest"],
    "ActionResult": [
        "*output_files 2 OutputFile", "*output_directories 3 OutputDirectory",
        "exit_code 4 int32", "stdout_digest 6 Digest", "stderr_digest 8 Digest",
    ],
    "FileNode": ["name 1 string", "digest 2 Digest"],
    "Directory": ["*files 1 FileNode"],
    "Tree": ["root 1 Directory", "*children 2 Directory"],
}  # fmt: skip


def _build() -> dict[str, type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(
        name="casserver/remote_execution.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for spec in fields:
            field, number, kind = spec.split()
            message.field.add(
                name=field.lstrip("*"),
                number=int(number),
                type=_SCALARS.get(kind, _F.TYPE_MESSAGE),
                label=_F.LABEL_REPEATED if field.startswith("*") else _F.LABEL_OPTIONAL,
                type_name=None if kind in _SCALARS else f".{PACKAGE}.{kind}",
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in _MESSAGES
    }


_CLASSES: Final = _build()
ActionResult: Final = _CLASSES["ActionResult"]
Tree: Final = _CLASSES["Tree"]


class NotAnActionResult(ValueError):
    """NotAnActionResult is raised for bytes that do not parse as an ActionResult."""


class TreeTooBig(ValueError):
    """TreeTooBig is raised by a read for a Tree blob over MAX_TREE_BYTES."""


def _parse(cls: type[Message], data: bytes) -> Any:
    message = cls()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeWarning) as exc:
        raise NotAnActionResult(str(exc)) from None
    return message


def _digests(message: Any) -> Iterator[Any]:
    yield from (f.digest for f in message.output_files)
    for name in ("stdout_digest", "stderr_digest"):
        if message.HasField(name):
            yield getattr(message, name)


def named_blobs(data: bytes, read: Callable[[Digest], bytes | None]) -> list[Digest] | None:
    """Return the blobs an action result names, or None if one of them is missing.

    read returns a stored blob's bytes (for output directories' Tree blobs) or None.
    Raises NotAnActionResult when data is not one (then it is served as it is).
    """
    result = _parse(ActionResult, data)
    names = dict.fromkeys(_digest(d) for d in _digests(result))  # each checked once
    budget = MAX_TREE_BYTES
    for directory in result.output_directories:
        tree_digest = _digest(directory.tree_digest)
        if tree_digest in names:
            continue  # read already
        try:
            tree_bytes = read(tree_digest)
        except TreeTooBig:
            return None
        if tree_bytes is None or len(tree_bytes) > budget:
            return None
        budget -= len(tree_bytes)
        names[tree_digest] = None
        tree = _parse(Tree, tree_bytes)
        for folder in (tree.root, *tree.children):
            names.update(dict.fromkeys(_digest(f.digest) for f in folder.files))
    # The empty blob too: Bazel downloads it like any other, and a miss of it fails the hit.
    return list(names)


def _digest(message: Any) -> Digest:
    if not _HEX64.fullmatch(message.hash):
        raise NotAnActionResult(f"not a SHA-256 digest: {message.hash[:80]!r}")
    return Digest(SHA256, message.hash)
