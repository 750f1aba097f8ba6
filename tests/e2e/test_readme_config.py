"""docs/production.md "A complete minimal configuration": the block, run as written in a scratch directory
instead of /etc/gatehouse, makes a configuration that `gatehouse check-config` accepts."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from app.settings import ENV_NAMES

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("jwt_issuer", "private_key_path", "private_key_id", "client_id_hash_salt", "provider_token_key",
            "mongodb_url", "redis_url", "routes_file", "apps")


def readme_block() -> str:
    readme = (ROOT / "docs" / "production.md").read_text()
    section = readme[readme.index("## A complete minimal configuration"):]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_configuration_is_accepted_as_written(tmp_path):
    block = readme_block()
    assert block.splitlines()[0] == "umask 077 && mkdir -p /etc/gatehouse && cd /etc/gatehouse"
    assert block.count("/etc/gatehouse") == 2  # in that line only: the one thing changed below
    # Nothing from this process's environment may fill in for the file (environment wins over it).
    names = {name for names in ENV_NAMES.values() for name in names} | {"GATEHOUSE_CONFIG"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    etc = tmp_path / "etc"
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace("/etc/gatehouse", str(etc))],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "configuration OK (issuer https://auth.example.com, key signing-1)" in run.stdout
    written = yaml.safe_load((etc / "gatehouse.yaml").read_text())
    assert set(REQUIRED) <= set(written), "every required key is in the block"
    assert len(written["client_id_hash_salt"]) >= 32 and len(written["provider_token_key"]) == 44
    assert (etc / "gatehouse.yaml").stat().st_mode & 0o077 == 0, "the secrets are readable by the owner only"
    # from another working directory too: the paths in the file are relative to the file
    again = subprocess.run([str(Path(sys.executable).parent / "gatehouse"), "check-config", "--config",
                            str(etc / "gatehouse.yaml")], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    assert "warning" not in run.stderr + again.stderr, "the documented configuration leaves no feature dead"
