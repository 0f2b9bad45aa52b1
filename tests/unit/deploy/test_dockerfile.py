"""The Dockerfile builds one slim, non-root image that runs any of the three programs."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass

from tests.unit.deploy.manifests import PROGRAMS, ROOT, kustomize_build, pod_spec

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "python3-dev", "libc6-dev")


@dataclass
class Instruction:
    """Instruction is one Dockerfile instruction with its continuation lines joined."""

    name: str
    args: str


def instructions() -> list[Instruction]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, args = line.partition(" ")
            out.append(Instruction(name.upper(), args.strip()))
    return out


def stages() -> list[list[Instruction]]:
    """Stages splits the instructions at each FROM; global ARGs come before the first."""
    result: list[list[Instruction]] = [[]]
    for ins in instructions():
        if ins.name == "FROM":
            result.append([])
        result[-1].append(ins)
    return result


def arg_default(name: str) -> str:
    for ins in stages()[0]:
        if ins.name == "ARG" and ins.args.startswith(f"{name}="):
            return ins.args.split("=", 1)[1]
    raise AssertionError(f"no ARG {name}")


def final_stage() -> list[Instruction]:
    return stages()[-1]


def test_base_is_slim_python_311() -> None:
    for stage in stages()[1:]:
        image = stage[0].args.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: arg_default(m.group(1)), image)
        assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", image), image


def test_multi_stage_final_copies_only_the_virtualenv() -> None:
    assert len(stages()) >= 3, "a build stage and a final stage"
    copies = [i.args for i in final_stage() if i.name in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/cas /opt/cas"]


def test_final_stage_has_no_build_tools() -> None:
    for ins in final_stage():
        if ins.name == "RUN":
            for tool in BUILD_TOOLS:
                assert not re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", ins.args), ins.args


def test_runs_as_a_fixed_non_root_uid() -> None:
    users = [i.args for i in final_stage() if i.name == "USER"]
    assert users, "final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000, "numeric, so runAsNonRoot can check it"
    assert gid.isdigit() and int(gid) >= 1000


def test_uid_matches_the_manifests() -> None:
    uid = int([i.args for i in final_stage() if i.name == "USER"][-1].split(":")[0])
    checked = 0
    for obj in kustomize_build(ROOT / "k8s"):
        spec = pod_spec(obj)
        if spec is not None:
            assert spec["securityContext"]["runAsUser"] == uid, obj["metadata"]["name"]
            checked += 1
    assert checked == 3


def test_command_is_chosen_at_run_time() -> None:
    cmd = [i.args for i in final_stage() if i.name == "CMD"]
    entry = [i.args for i in final_stage() if i.name == "ENTRYPOINT"]
    assert cmd == ['["casserver"]']
    # The entrypoint may only be an init process; the program is the command.
    assert entry in ([], ['["/usr/bin/tini", "--"]'])


def test_programs_are_console_scripts() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(PROGRAMS) <= set(scripts)


def test_build_context_has_what_the_copies_need() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in ignore:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    for stage in stages()[1:]:
        for ins in stage:
            if ins.name == "COPY" and not ins.args.startswith("--from"):
                for src in ins.args.split()[:-1]:
                    assert (ROOT / src).exists(), src
                    assert included(src), f"{src} is excluded by .dockerignore"
    for unwanted in (".venv", ".git", "tests", "cas-data"):
        assert not included(unwanted), f"{unwanted} is sent to the build context"
