"""deploy/docker/Dockerfile, checked offline (no container engine here): parsed with
dockerfile-parse and held to the image's rules — multi-stage (the wheel is built in a builder
stage and installed from it alone into a virtual environment of the final stage), pinned base,
no build tools nor sources in the final stage, a numeric non-root user that is the manifests'
runAsUser — and to what deploy/kubernetes runs in it: each Deployment's command is a console
script the image installs (setup.cfg's, or gunicorn's from install_requires) on the image's PATH,
and the image's default command is one of them."""
from __future__ import annotations

import configparser
import json
import re
import shlex
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from tests.unit.test_kubernetes_manifests import BASE, build, containers, literal_env, of_kind

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
# An exact Python release on an exact Debian release (or any image pinned by digest).
PINNED = re.compile(r"^(python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?|[^\s:@]+(:[^\s@]+)?@sha256:[0-9a-f]{64})$")
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|gcc|g\+\+|cc|make|build-essential|python3?-dev|pip wheel|setup\.py)\b")

Instruction = dict[str, Any]


def stages() -> list[list[Instruction]]:
    """The instructions of each stage, its FROM first (comments left out)."""
    parsed: list[list[Instruction]] = []
    for instruction in DockerfileParser(path=str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            parsed.append([])
        if instruction["instruction"] != "COMMENT":
            assert parsed, "nothing but comments before the first FROM"
            parsed[-1].append(instruction)
    return parsed


def of(stage: list[Instruction], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def deployment_commands() -> dict[str, list[str]]:
    return {d["metadata"]["name"]: [*c["command"], *c.get("args", [])]
            for d in of_kind(build(BASE), "Deployment") for c in containers(d)}


def test_two_stages_from_the_same_pinned_base() -> None:
    found = stages()
    assert len(found) >= 2, "a builder stage and the final stage"
    bases = [of(stage, "FROM")[0].split()[0] for stage in found]
    for base in bases:
        assert PINNED.match(base), f"{base}: pin the base by exact version tag or digest"
    # The final stage installs wheels the builder made for its Python: the same image.
    assert bases[0] == bases[-1]
    assert re.fullmatch(r"\S+ AS builder", of(found[0], "FROM")[0], re.I)


def test_the_builder_builds_the_wheel_from_what_the_package_is_made_of() -> None:
    builder = stages()[0]
    copied = {source for value in of(builder, "COPY") for source in shlex.split(value)[:-1]}
    include = [p.strip() for p in setup_cfg()["options.packages.find"]["include"].split(",")]
    packages = {p for p in include if "." not in p and "*" not in p}
    long_description = setup_cfg()["metadata"]["long_description"].removeprefix("file:").strip()
    assert {"pyproject.toml", "setup.cfg", long_description} | packages <= copied
    assert any("pip wheel" in run and "--wheel-dir /wheels" in run for run in of(builder, "RUN"))


def test_the_final_stage_installs_the_wheels_only_into_a_venv() -> None:
    final = stages()[-1]
    runs = of(final, "RUN")
    for run in runs:
        assert not BUILD_TOOLS.search(re.sub(r"--mount=\S+", "", run)), f"no build tools in the final image: {run}"
    assert not of(final, "COPY") and not of(final, "ADD"), "no sources in the final image (the wheels are mounted)"
    (venv,) = [r for r in runs if " -m venv " in f" {r} "]
    assert "--without-pip" in venv
    (install,) = [r for r in runs if " install " in r]
    assert "--mount=type=bind,from=builder,source=/wheels,target=/wheels" in install
    assert "--no-index" in install and "--find-links /wheels" in install, "only the builder's wheels"
    venv_dir = venv.split()[-1]
    assert f"--python {venv_dir}/bin/python" in install
    path = [e for e in of(final, "ENV") if e.startswith("PATH=")]
    assert path and path[0].startswith(f"PATH={venv_dir}/bin:"), "the console scripts are found by name"


def pod_security(name: str) -> dict[str, Any]:
    (deployment,) = [d for d in of_kind(build(BASE), "Deployment") if d["metadata"]["name"] == name]
    context: dict[str, Any] = deployment["spec"]["template"]["spec"]["securityContext"]
    return context


def test_the_image_runs_as_the_manifests_non_root_user() -> None:
    final = stages()[-1]
    users = of(final, "USER")
    assert users, "a USER in the final stage"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit() and int(group) != 0, \
        "numeric, so that runAsNonRoot can verify it"
    last_user = max(i for i, x in enumerate(final) if x["instruction"] == "USER")
    assert all(x["instruction"] != "RUN" for x in final[last_user:]), "nothing runs as root after USER"
    for name in deployment_commands():
        context = pod_security(name)
        assert (context["runAsUser"], context["runAsGroup"]) == (int(user), int(group)), name


def console_scripts() -> dict[str, str]:
    """Every command the image's environment has by name: Gatehouse's and its dependencies'."""
    scripts = {}
    for line in setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines():
        name, _, target = line.partition("=")
        scripts[name.strip()] = target.strip()
    requires = setup_cfg()["options"]["install_requires"]
    for requirement in re.findall(r"^\s*([A-Za-z0-9_.-]+)", requires, re.M):
        for entry in distribution(requirement).entry_points:
            if entry.group == "console_scripts":
                scripts.setdefault(entry.name, entry.value)
    return scripts


@pytest.mark.parametrize("deployment", ["gatehouse", "gatehouse-check"])
def test_each_deployment_runs_a_command_the_image_has(deployment: str) -> None:
    from app.cli import main

    command = deployment_commands()[deployment]
    scripts = console_scripts()
    assert command[0] in scripts, f"{deployment}: {command[0]} is no console script of the image"
    if command[0] == "gatehouse":
        assert scripts["gatehouse"] == "app.cli:main"
        assert command[1] in main.commands, f"gatehouse has no command {command[1]}"
    else:
        assert command[0] == "gunicorn"
        config = command[command.index("-c") + 1]
        assert config == "python:app.serving.gunicorn_conf" and (ROOT / "app" / "serving/gunicorn_conf.py").is_file()
        module, _, attribute = command[-1].partition(":")
        assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file() and attribute == "app"


def test_the_image_default_is_what_the_manifests_run() -> None:
    final = stages()[-1]
    assert not of(final, "ENTRYPOINT"), "no ENTRYPOINT: a Deployment's `command` replaces the whole default"
    (cmd,) = of(final, "CMD")
    default = json.loads(cmd)  # exec form: no shell between the kubelet's signal and the server
    assert default == deployment_commands()["gatehouse"]
    exposed = {int(p) for value in of(final, "EXPOSE") for p in value.split()}
    ports = {int(p["containerPort"]) for d in of_kind(build(BASE), "Deployment") for c in containers(d)
             for p in c["ports"]}
    assert exposed == ports
    http_ports = {int(literal_env(c)["HTTP_PORT"]) for d in of_kind(build(BASE), "Deployment") for c in containers(d)}
    assert http_ports == ports
