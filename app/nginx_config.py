"""Render the shipped nginx config (deploy/nginx/gatehouse.conf.in) for given addresses."""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "gatehouse.conf.in"
ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
TTL = re.compile(r"^\d{1,5}(ms|s|m)?$")


def render(listen: str, gatehouse: str, upstream: str, runtime: Path,
           cache: bool = False, cache_ttl: str = "5s", gatehouse_check: str | None = None) -> str:
    """The config text; every value is checked so nothing can inject directives.
    `gatehouse_check`: the process group answering /auth (default: `gatehouse`). `gatehouse` and
    `gatehouse_check` may list several instances, comma-separated: nginx spreads requests over
    them and moves on to the next when one stops (a rolling deploy)."""
    gatehouse_check = gatehouse_check or gatehouse
    for name, value in (("listen", listen), ("gatehouse", gatehouse), ("upstream", upstream),
                        ("gatehouse_check", gatehouse_check)):
        several = name in ("gatehouse", "gatehouse_check")
        if not all(ADDRESS.match(v) for v in (value.split(",") if several else [value])):
            raise ValueError(f"{name} must be host:port" + (" (or a comma-separated list)" if several else ""))
    gatehouse, gatehouse_check = ("; server ".join(v.split(",")) for v in (gatehouse, gatehouse_check))
    if not TTL.match(cache_ttl):
        raise ValueError("cache_ttl must look like 5s")
    runtime_text = str(runtime.resolve())
    if re.search(r"[\s;{}'\"]", runtime_text):
        raise ValueError("runtime directory path must not contain spaces, quotes, ; or braces")
    text = TEMPLATE.read_text()
    for key, value in (("@LISTEN@", listen), ("@GATEHOUSE_CHECK@", gatehouse_check), ("@GATEHOUSE@", gatehouse),
                       ("@UPSTREAM@", upstream),
                       ("@RUNTIME@", runtime_text), ("@AUTH_CACHE_ZONE@", "gatehouse_auth" if cache else "off"),
                       ("@CACHE_TTL@", cache_ttl)):
        text = text.replace(key, value)
    return text
