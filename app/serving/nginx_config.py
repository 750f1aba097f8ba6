"""Render the shipped nginx config (app/nginx/gatehouse.conf.in, linked as deploy/nginx/) for given addresses."""
from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[1] / "nginx"  # shipped in the package; deploy/nginx links here
TEMPLATE = DEPLOY / "gatehouse.conf.in"
# The one list of each: what the check receives, what the upstream receives (docs/proxies.md "nginx").
CHECK_HEADERS = DEPLOY / "gatehouse-check-headers.conf"
UPSTREAM_HEADERS = DEPLOY / "gatehouse-upstream-headers.conf"
INCLUDE = re.compile(r"^(?P<indent>[ \t]*)include (?P<name>gatehouse-[a-z-]+\.conf);[ \t]*$", re.MULTILINE)
ADDRESS = re.compile(r"^([A-Za-z0-9.\-\[\]:]+:\d{1,5}|unix:/[A-Za-z0-9._/\-]+)$")  # host:port or unix:/path
TTL = re.compile(r"^\d{1,5}(ms|s|m)?$")


def header_names(path: Path) -> list[tuple[str, str]]:
    """(header, value) of every `proxy_set_header` in one of the shipped header lists."""
    found = re.findall(r"^proxy_set_header (\S+) (.+);$", path.read_text(), re.MULTILINE)
    return [(name, value) for name, value in found]


# What nginx's uwsgi module sends on its own (its shipped uwsgi_params), for the check's subrequest:
# the path is always /auth (the original one travels in X-Original-URI, as over HTTP).
UWSGI_REQUEST_PARAMS = (
    ("REQUEST_METHOD", "$request_method"), ("REQUEST_URI", "/auth"), ("PATH_INFO", "/auth"),
    ("QUERY_STRING", '""'), ("SERVER_PROTOCOL", "$server_protocol"), ("REQUEST_SCHEME", "$scheme"),
    ("HTTPS", "$https if_not_empty"), ("REMOTE_ADDR", "$remote_addr"), ("REMOTE_PORT", "$remote_port"),
    ("SERVER_PORT", "$server_port"), ("SERVER_NAME", "$server_name"),
)
CHECK_LOCATION = re.compile(r"^(?P<indent>[ \t]*)proxy_pass http://gatehouse_check/auth;\n"
                            r"(?P=indent)include gatehouse-check-headers\.conf;\n", re.MULTILINE)


def uwsgi_check_params(indent: str = "") -> str:
    """The check's headers of gatehouse-check-headers.conf (the one list) as `uwsgi_param`s: a set
    header is its `HTTP_*` param (nginx then leaves out the client's header of that name), a cleared
    one (`""`) is also named, `if_not_empty`, so that the client's is left out and none is sent."""
    lines = ["uwsgi_pass gatehouse_check;", "uwsgi_pass_request_body off;"]
    lines += [f"uwsgi_param {key} {value};" for key, value in UWSGI_REQUEST_PARAMS]
    for name, value in header_names(CHECK_HEADERS):
        if name.lower() == "connection":
            continue  # hop-by-hop, HTTP only
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{key}"
        lines.append(f"uwsgi_param {key} {value}" + (" if_not_empty;" if value == '""' else ";"))
    return "".join(f"{indent}{line}\n" for line in lines)


# @gatehouse_500's rule for a subrequest the check group refused, after which the uwsgi rendering
# adds its own. A uwsgi packet holds at most 65,535 bytes, and a request's headers with its URI sent
# again (X-Original-URI) can be more (nginx takes up to 160 KB of headers): nginx then never sends
# the subrequest and has no status from the check. That request's headers are too large, a 431 like
# nginx's own. Any other fault nginx meets before reaching the check lands here too; it fails closed
# either way.
REFUSED_BRANCH = re.compile(r'( +)if \(\$gatehouse_check_status ~ "\^4"\) \{\n.*?\n\1\}\n', re.DOTALL)
TOO_LARGE_BRANCH = ('            if ($gatehouse_check_status = "") {\n'
                    '                return 431 \'{"statusCode":431,"error":"Request Header Fields Too Large",'
                    '"message":"request headers too large","requestId":"$gatehouse_request_id"}\';\n'
                    '            }\n')


def _to_uwsgi(text: str) -> str:
    """The check location over the uwsgi protocol: uwsgi_pass + params, and its proxy_* timeouts
    and cache directives as their uwsgi_* equivalents (the decision cache is the check's only)."""
    text, found = CHECK_LOCATION.subn(lambda m: uwsgi_check_params(m["indent"]), text)
    if found != 1:
        raise ValueError("the check location of gatehouse.conf.in was not found")
    start = text.index("location = /_gatehouse/auth {")
    end = text.index("\n        }\n", start)
    location = re.sub(r"^(\s*)proxy_(connect_timeout|read_timeout|buffer_size|buffers|cache|cache_key|cache_valid|"
                      r"cache_lock|ignore_headers)\b", r"\1uwsgi_\2", text[start:end], flags=re.MULTILINE)
    text = text[:start] + location + text[end:]
    text, found = REFUSED_BRANCH.subn(r"\g<0>" + TOO_LARGE_BRANCH, text)
    if found != 1:
        raise ValueError("the @gatehouse_500 location of gatehouse.conf.in was not found")
    return text.replace("proxy_cache_path @RUNTIME@/auth_cache", "uwsgi_cache_path @RUNTIME@/auth_cache")


def _inline(text: str) -> str:
    """Copy the shipped include files in where they are included, so the output is one file."""
    def one(match: re.Match[str]) -> str:
        lines = (DEPLOY / match["name"]).read_text().splitlines()
        return "\n".join(match["indent"] + line if line else "" for line in lines)
    return INCLUDE.sub(one, text)


def render(listen: str, gatehouse: str, upstream: str, runtime: Path,
           cache: bool = False, cache_ttl: str = "5s", gatehouse_check: str | None = None,
           backoffice_listen: str | None = None, check_protocol: str = "http") -> str:
    """The config text; every value is checked so nothing can inject directives.
    `gatehouse_check`: the process group answering /auth (default: `gatehouse`). `gatehouse` and
    `gatehouse_check` may list several instances, comma-separated: nginx spreads requests over
    them and moves on to the next when one stops (a rolling deploy). `backoffice_listen`: a second
    listener whose requests are judged by the routes' backofficeAuthorization. `check_protocol`:
    `http` (gunicorn) or `uwsgi` (`gatehouse serve-check`: nginx's uwsgi_pass to its uwsgi socket)."""
    if check_protocol not in ("http", "uwsgi"):
        raise ValueError("check_protocol must be http or uwsgi")
    gatehouse_check = gatehouse_check or gatehouse
    for name, value in (("listen", listen), ("gatehouse", gatehouse), ("upstream", upstream),
                        ("gatehouse_check", gatehouse_check)):
        several = name in ("gatehouse", "gatehouse_check")
        if not all(ADDRESS.match(v) for v in (value.split(",") if several else [value])):
            raise ValueError(f"{name} must be host:port or unix:/path"
                             + (" (or a comma-separated list)" if several else ""))
    gatehouse, gatehouse_check = ("; server ".join(v.split(",")) for v in (gatehouse, gatehouse_check))
    if not TTL.match(cache_ttl):
        raise ValueError("cache_ttl must look like 5s")
    runtime_text = str(runtime.resolve())
    if re.search(r"[\s;{}'\"]", runtime_text):
        raise ValueError("runtime directory path must not contain spaces, quotes, ; or braces")
    if backoffice_listen is not None:
        if not ADDRESS.match(backoffice_listen):
            raise ValueError("backoffice_listen must be host:port")
        if backoffice_listen.rsplit(":", 1)[1] == listen.rsplit(":", 1)[1]:
            raise ValueError("backoffice_listen needs a port of its own (the policy is chosen by port)")
    text = TEMPLATE.read_text()
    if check_protocol == "uwsgi":
        text = _to_uwsgi(text)
    text = _inline(text)
    if backoffice_listen is None:
        text = "\n".join(line for line in text.split("\n") if "@BACKOFFICE_" not in line)
    else:
        text = text.replace("@BACKOFFICE_LISTEN@", backoffice_listen).replace(
            "@BACKOFFICE_PORT@", backoffice_listen.rsplit(":", 1)[1])
    for key, value in (("@LISTEN@", listen), ("@GATEHOUSE_CHECK@", gatehouse_check), ("@GATEHOUSE@", gatehouse),
                       ("@UPSTREAM@", upstream),
                       ("@RUNTIME@", runtime_text), ("@AUTH_CACHE_ZONE@", "gatehouse_auth" if cache else "off"),
                       ("@CACHE_TTL@", cache_ttl)):
        text = text.replace(key, value)
    return text
