"""docs/production.md, run as written in a scratch directory instead of /etc/gatehouse and
/var/lib/gatehouse: "A complete minimal configuration" makes a configuration that `gatehouse
check-config` accepts, and "Running it" then starts both process groups and nginx with the file
`gatehouse nginx-config` rendered, against a real Redis and MongoDB-wire server, and a check
through nginx answers."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from app.settings import ENV_NAMES
from tests.e2e.conftest import NGINX
from tests.support.servers import free_port, within

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("jwt_issuer", "private_key_path", "private_key_id", "client_id_hash_salt", "provider_token_key",
            "mongodb_url", "redis_url", "routes_file", "apps")


def readme_block(heading: str = "## A complete minimal configuration") -> str:
    """The first bash block under `heading` in docs/production.md."""
    readme = (ROOT / "docs" / "production.md").read_text()
    section = readme[readme.index(heading):]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def clean_env() -> dict[str, str]:
    """This process's environment less every Gatehouse setting (the environment wins over the
    file: nothing here may fill in for it), with this interpreter's scripts first on PATH."""
    names = {name for names in ENV_NAMES.values() for name in names} | {"GATEHOUSE_CONFIG"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(Path(NGINX).parent), env.get("PATH", "")])
    return env


def test_the_readme_configuration_is_accepted_as_written(tmp_path):
    block = readme_block()
    assert block.splitlines()[0] == "umask 077 && mkdir -p /etc/gatehouse && cd /etc/gatehouse"
    assert block.count("/etc/gatehouse") == 2  # in that line only: the one thing changed below
    env = clean_env()
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


def test_the_production_page_runs_top_to_bottom(tmp_path, redis_server, mongo_server, echo):
    """Both blocks in one shell, as an operator pastes them: the configuration, then the two
    process groups, the rendered nginx config, `nginx -t` and nginx itself; the page's own curl
    lines answer 401 (the check refused a request without credential) and the application's 200
    (a public route). Only the addresses change: the page's ports become free ones (its upstream
    127.0.0.1:8000 an echo server), and the stores are this test's (MONGODB_URL and REDIS_URL in
    the environment, which wins over the file's CHANGE-ME hosts)."""
    running = readme_block("## Running it")
    lines = running.splitlines()
    assert lines[0] == "pip install .", "this checkout is installed in the test environment already"
    script = readme_block() + "\n".join(lines[1:]) + "\n"
    for placeholder in ("--upstream", "--runtime", "nginx -c", "nginx -t"):
        assert placeholder in running, placeholder
    assert "..." not in running, "every command is complete"
    ports = {3000: free_port(), 3001: free_port(), 3002: free_port(), 8080: free_port(), 8000: echo}
    script = re.sub(r"(?<=[:=])(3000|3001|3002|8080|8000)\b", lambda m: str(ports[int(m.group(1))]), script)
    script = script.replace("/etc/gatehouse", str(tmp_path / "etc")).replace("/var/lib/gatehouse",
                                                                             str(tmp_path / "var"))
    if os.geteuid() == 0:
        # As root (CI) nginx's workers would run as nobody, which cannot use the owner-only
        # runtime directory; the page runs nginx as Gatehouse's unprivileged user.
        assert script.count("-g 'daemon off;'") == 1
        script = script.replace("-g 'daemon off;'", "-g 'daemon off; user root;'")
    env = {**clean_env(), "MONGODB_URL": f"{mongo_server.url}/t{uuid.uuid4().hex[:12]}", "REDIS_URL": redis_server.url}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # Its own process group: the servers the page starts with `&` are stopped with it below.
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            stdout=open(out, "wb"), stderr=open(err, "wb"), start_new_session=True)
    try:
        code = proc.wait(timeout=120)
        printed = out.read_text().splitlines()
        assert code == 0, out.read_text() + err.read_text()
        assert "configuration OK (issuer https://auth.example.com, key signing-1)" in printed
        assert printed[-2:] == ["401", "200"], out.read_text() + err.read_text()
        rendered = (tmp_path / "etc" / "nginx.conf").read_text()
        assert f"unix:{tmp_path / 'var' / 'check.sock'}" in rendered and "uwsgi_pass" in rendered
        assert f"127.0.0.1:{ports[8000]}" in rendered
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not within(lambda: group_gone(proc.pid), 30):
            os.killpg(proc.pid, signal.SIGKILL)


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_no_command_on_the_page_is_elided():
    """The blocks not run above (the gunicorn layout, Kubernetes) are complete commands too: no
    `...` standing for options the reader must guess (such as nginx-config's required ones)."""
    readme = (ROOT / "docs" / "production.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        assert "..." not in block, block
        for command in re.findall(r"gatehouse nginx-config[^\n]*", block.replace("\\\n", " ")):
            assert "--upstream" in command and "--runtime" in command, command
