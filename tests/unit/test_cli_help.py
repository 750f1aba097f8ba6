"""Every command and option of the `gatehouse` CLI says what it does; `--version` answers."""
from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from app.cli import main
from app.version import VERSION


def walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


COMMANDS = list(walk(main))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "gatehouse" for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path, command):
    assert (command.help or "").strip(), f"gatehouse {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help", "version"):
            assert (param.help or "").strip(), f"gatehouse {' '.join(path)} {param.opts[0]} has no help text"
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"gatehouse {VERSION}"


def test_dev_help_lists_every_port_and_the_readme_agrees():
    """`gatehouse dev --help` names each port flag; the README's Ports line gives the same set."""
    from pathlib import Path
    flags = {opt for p in main.commands["dev"].params for opt in p.opts if opt.endswith("-port") or opt == "--port"}
    assert {"--port", "--check-port", "--redis-port", "--mongo-port", "--provider-port", "--nginx-port",
            "--upstream-port"} <= flags
    shown = CliRunner().invoke(main, ["dev", "--help"]).output
    assert all(flag in shown for flag in flags)
    readme = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    ports_line = re.search(r"^Ports: `scripts/dev (.*?)`", readme, re.M | re.S)
    assert ports_line, "README has a Ports line"
    assert set(re.findall(r"--[a-z-]*port\b", ports_line.group(1))) == flags
    # ... each with the value it defaults to, as `--help` shows it
    defaults = {opt: str(p.default) for p in main.commands["dev"].params for opt in p.opts if opt in flags}
    assert dict(re.findall(r"(--[a-z-]*port) (\d+)", ports_line.group(1))) == defaults
    assert all(f"default: {value}" in " ".join(shown.split()) for value in defaults.values())
