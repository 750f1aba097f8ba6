"""The `gatehouse` command: keys, clients, config check, assertion helper, embedded dev run."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from .core import tokens
from .core.tokens import ASSERTION_TYPE
from .core.errors import GatehouseError
from .core.keys import KeyLoadError, generate_private_key_pem, load_private_key, public_pem
from .settings import ConfigError, Settings, configured_file, load_settings, named_variable
from .version import VERSION

DEFAULT_DEV_CONFIG = Path("var/gatehouse.yaml")
TOP_CONFIG = "gatehouse.config"
# marshmallow's words for a required setting that nothing gave
MISSING = "Missing data for required field"


class NoConfiguration(click.ClickException):
    """No config file anywhere the CLI looks, and the environment alone is not a configuration."""

    exit_code = 2


def _top_config() -> str | None:
    """`gatehouse --config F <command>`: the option given before the command."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(TOP_CONFIG) if ctx is not None else None


def _config_file(config: str | None) -> str | None:
    """--config (before or after the command), else $GATEHOUSE_CONFIG, else the `gatehouse dev` one in ./var."""
    top = _top_config()
    if config and top and config != top:
        raise click.UsageError(f"--config given twice ({top} before the command, {config} after it): give it once")
    fallback = str(DEFAULT_DEV_CONFIG) if DEFAULT_DEV_CONFIG.is_file() else None
    return config or top or configured_file() or fallback


def _settings(config: str | None) -> Settings:
    """The settings of a command. With no config file found, and required settings missing from the
    environment, one line says where the CLI looked and what to pass (not every missing key)."""
    path = _config_file(config)
    try:
        return load_settings(config_file=path)
    except ConfigError as exc:
        if path is None and any(MISSING in problem for problem in exc.problems):
            raise NoConfiguration(
                f"no configuration found: looked at --config (not given), GATEHOUSE_CONFIG (not set) and "
                f"./{DEFAULT_DEV_CONFIG} (no such file); pass --config FILE (`gatehouse dev` writes "
                f"<var-dir>/gatehouse.yaml) or set GATEHOUSE_CONFIG=FILE") from None
        raise


def _services(config: str | None) -> Any:
    from .services import build_services
    try:
        return build_services(_settings(config))
    except ConfigError as exc:
        raise click.ClickException("configuration refused:\n  - " + "\n  - ".join(exc.problems))


def _registry(config: str | None) -> Any:
    return _services(config).registry


CONFIG_OPTION = click.option("--config", default=None, help="config file (default: $GATEHOUSE_CONFIG)")


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group()
@click.version_option(VERSION, prog_name="gatehouse", message="%(prog)s %(version)s")
@click.option("--config", default=None, help="config file for the command (also accepted after it; default: "
              "$GATEHOUSE_CONFIG, else ./var/gatehouse.yaml)")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Gatehouse identity service."""
    ctx.meta[TOP_CONFIG] = config


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("generate")
@click.option("--type", "kind", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True,
              help="RSA 2048 (RS256) or EC P-256 (ES256)")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PEM file to write")
@click.option("--kid", default=None, help="key id to report (default: derived from the key)")
@click.option("--password-env", default=None, help="encrypt with the password in this env var")
def keys_generate(kind: str, out: str, kid: str | None, password_env: str | None) -> None:
    """Write a new private key (and its public half next to it as <out>.pub)."""
    password = named_variable(password_env).encode() if password_env else None
    if password_env and not password:
        raise click.ClickException(f"{password_env} is empty")
    pem = generate_private_key_pem(kind, password)
    path = Path(out)
    if path.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public = public_pem(pem, password)
    Path(f"{out}.pub").write_bytes(public)
    kid = kid or hashlib.sha256(public).hexdigest()[:16]
    key = load_private_key(pem, password, kid)
    click.echo(json.dumps({"path": str(path), "public": f"{out}.pub", "kid": kid, "alg": key.alg}))


@keys.command("provider-token-key")
def keys_provider_token_key() -> None:
    """Print a new PROVIDER_TOKEN_KEY (seals provider tokens kept for login sessions)."""
    from .core.sealing import new_key
    click.echo(new_key())


@main.group()
def clients() -> None:
    """Client registry (same store as the HTTP admin API)."""


@clients.command("create")
@click.option("--name", required=True, help="client name (shown in lists)")
@click.option("--auth-method", type=click.Choice(["client_secret_basic", "client_secret_post",
                                                  "private_key_jwt"]), default="client_secret_basic",
              show_default=True, help="how the client authenticates at the token endpoint")
@click.option("--scope", multiple=True, help="allowed scope (repeatable)")
@click.option("--permission", multiple=True, help="permission (repeatable)")
@click.option("--audience", multiple=True, help="allowed audience (repeatable)")
@click.option("--public-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM public key (private_key_jwt)")
@click.option("--config", default=None, help="config file (default: $GATEHOUSE_CONFIG)")
def clients_create(name: str, auth_method: str, scope: tuple[str, ...], permission: tuple[str, ...],
                   audience: tuple[str, ...], public_key_file: str | None, config: str | None) -> None:
    """Register a client; prints its id and (once) its secret."""
    from .blueprints.clients import registration_response
    meta = {"name": name, "auth_method": auth_method, "scopes": list(scope),
            "permissions": list(permission), "audience": list(audience),
            "public_key": Path(public_key_file).read_text() if public_key_file else None}
    try:
        client, secret = _registry(config).register(meta)
    except GatehouseError as exc:
        raise click.ClickException(exc.description)
    _echo_json(registration_response(client, secret))


@clients.command("list")
@click.option("--config", default=None, help="config file (default: $GATEHOUSE_CONFIG)")
def clients_list(config: str | None) -> None:
    """List registered clients (no secrets)."""
    _echo_json([c.public_view() for c in _registry(config).list()])


def _one_client_command(name: str, help_text: str, action: str) -> None:
    @clients.command(name, help=help_text)
    @click.argument("client_id")
    @click.option("--config", default=None, help="config file (default: $GATEHOUSE_CONFIG)")
    def command(client_id: str, config: str | None) -> None:
        try:
            registry = _registry(config)
            if action == "rotate":
                _echo_json({"client_id": client_id, "client_secret": registry.rotate_secret(client_id)})
            elif action == "enable":
                _echo_json(registry.update(client_id, {"state": "ENABLED"}).public_view())
            else:
                _echo_json(getattr(registry, action)(client_id).public_view())
        except GatehouseError as exc:
            raise click.ClickException(exc.description)


_one_client_command("show", "Show one client.", "get")
_one_client_command(
    "disable", "Disable a client: the token endpoint refuses it, and every token it holds is refused at "
    "/auth (within REVOCATION_SYNC_SECONDS), /tokeninfo and introspection — also after it is enabled "
    "again. Waits until every worker knows (about REVOCATION_SYNC_SECONDS + 1 s).", "disable")
_one_client_command(
    "enable", "Enable a disabled client: it may ask for new tokens; the tokens refused when it was "
    "disabled stay refused.", "enable")
_one_client_command(
    "revoke-tokens", "Refuse every token issued to the client so far, at /auth (within "
    "REVOCATION_SYNC_SECONDS), /tokeninfo and introspection; the client stays enabled and tokens it "
    "asks for after this answer work. Waits until every worker knows (about REVOCATION_SYNC_SECONDS "
    "+ 1 s).", "revoke_tokens")
_one_client_command("rotate-secret", "Issue a new secret; the old one stops working (tokens already "
                    "issued stay valid: add revoke-tokens to cut them off).", "rotate")


@main.group()
def users() -> None:
    """Users and their groups (same store as the HTTP admin API /users; needs `apps`)."""


def _user_admin(config: str | None) -> Any:
    admin = _services(config).users
    if admin is None:
        raise click.ClickException("no login apps are configured (users belong to the apps' realms)")
    return admin


def _user_call(config: str | None, action: Any) -> Any:
    """Run one user administration call; a refusal is one line and exit status 1."""
    from marshmallow import ValidationError

    from .schemas import problems
    try:
        return action(_user_admin(config))
    except ValidationError as exc:
        raise click.ClickException(problems(exc))
    except GatehouseError as exc:
        raise click.ClickException(exc.description)


@users.command("list")
@click.option("--realm", default=None, help="only users of this realm")
@click.option("--provider", "provider_id", default=None, help="providerId")
@click.option("--subject", "provider_user_id", default=None, help="providerUserId")
@click.option("--email", default=None, help="the provider's or the pre-provisioned email (any case)")
@click.option("--group", default=None, help="only members of this group")
@click.option("--blocked/--not-blocked", default=None, help="only blocked, or only not blocked, users")
@click.option("-q", "--query", "text", default=None, help="part of the name, email, username or subject")
@click.option("--limit", type=int, default=50, show_default=True, help="at most this many users")
@click.option("--skip", type=int, default=0, show_default=True, help="skip this many users first")
@CONFIG_OPTION
def users_list(config: str | None, limit: int, skip: int, **filters: Any) -> None:
    """List users, oldest first (the total goes to stderr)."""
    from .core.records import UserQuery
    from .schemas import UserQuerySchema
    wanted = {k: v for k, v in filters.items() if v is not None}

    def run(admin: Any) -> Any:
        names = {"provider_id": "providerId", "provider_user_id": "providerUserId", "text": "q"}
        args = UserQuerySchema().load({**{names.get(k, k): v for k, v in wanted.items()}, "limit": limit, "skip": skip})
        page_limit, page_skip = args.pop("limit"), args.pop("skip")
        return admin.list(UserQuery(**args), page_limit, page_skip)
    found, total = _user_call(config, run)
    _echo_json(found)
    click.echo(f"{len(found)} of {total} users", err=True)


@users.command("show")
@click.argument("user_id")
@CONFIG_OPTION
def users_show(user_id: str, config: str | None) -> None:
    """Show one user."""
    _echo_json(_user_call(config, lambda admin: admin.get(user_id)))


@users.command("create")
@click.option("--provider", "provider_id", default=None, help="providerId (with --subject; or with --email: "
                                                               "only a login through this provider is merged)")
@click.option("--subject", "provider_user_id", default=None, help="providerUserId: the provider's sub or id")
@click.option("--email", default=None, help="merged with the first login that brings this email")
@click.option("--realm", default=None, help="default: the default app's realm")
@click.option("--group", "groups", multiple=True, help="group (repeatable)")
@click.option("--name", default=None, help="display name")
@click.option("--username", default=None, help="username at the provider")
@click.option("--metadata", default=None, help="JSON object")
@click.option("--blocked", is_flag=True, default=False, help="create the user blocked")
@CONFIG_OPTION
def users_create(config: str | None, metadata: str | None, groups: tuple[str, ...], **fields: Any) -> None:
    """Pre-provision a user (by provider and subject, or by email) with groups."""
    from .core.login.users import NewUser
    from .schemas import UserCreateSchema
    names = {"provider_id": "providerId", "provider_user_id": "providerUserId"}
    body: dict[str, Any] = {names.get(k, k): v for k, v in fields.items() if v is not None and v is not False}
    body["groups"] = list(groups)
    if metadata is not None:
        try:
            body["metadata"] = json.loads(metadata)
        except ValueError:
            raise click.ClickException("metadata: not valid JSON")
    _echo_json(_user_call(config, lambda admin: admin.create(NewUser(**UserCreateSchema().load(body)))))


def _user_change(name: str, help_text: str, changes: Any, with_groups: bool = False) -> None:
    def command(user_id: str, config: str | None, groups: tuple[str, ...] = ()) -> None:
        from .core.records import UserChanges
        from .schemas import UserPatchSchema

        def run(admin: Any) -> Any:
            body = UserPatchSchema().load(changes(list(groups)))
            return admin.change(user_id, UserChanges(
                groups=None, add_groups=tuple(body.get("add_groups") or ()),
                remove_groups=tuple(body.get("remove_groups") or ()), blocked=body.get("blocked")))
        view, ended = _user_call(config, run)
        _echo_json({**view, **ended.body()} if ended is not None else view)
        if ended is not None:
            click.echo(f"ended {ended.sessions} session(s) and {ended.bff_sessions} BFF session(s)", err=True)
    command.__doc__ = help_text
    command = CONFIG_OPTION(command)
    if with_groups:
        command = click.argument("groups", nargs=-1, required=True)(command)
    command = click.argument("user_id")(command)
    users.command(name, help=help_text)(command)


_user_change("grant", "Add groups to a user (they reach the session at its next refresh or login).",
             lambda groups: {"addGroups": groups}, with_groups=True)
_user_change("revoke", "Remove groups from a user.", lambda groups: {"removeGroups": groups}, with_groups=True)
_user_change("block", "Block a user: their login and BFF sessions end, they cannot log in or refresh.",
             lambda groups: {"blocked": True})
_user_change("unblock", "Let a blocked user log in again.", lambda groups: {"blocked": False})


@users.command("delete")
@click.argument("user_id")
@CONFIG_OPTION
def users_delete(user_id: str, config: str | None) -> None:
    """Delete a user, ending their login and BFF sessions (a later login creates a new user)."""
    ended = _user_call(config, lambda admin: admin.delete(user_id))
    _echo_json({"userId": user_id, "endedSessions": ended.sessions, **ended.body()})


@main.command("check-config")
@click.option("--config", default=None, help="config file (default: $GATEHOUSE_CONFIG)")
def check_config(config: str | None) -> None:
    """Validate the configuration and exit 0, or list every problem and exit 2.

    A valid configuration that leaves a feature dead (no routes_file: every /auth check is refused)
    gets a `warning:` line each on stderr; it still exits 0, as start-up still starts."""
    from .named_files import dead_features, read_named_files
    try:
        settings = _settings(config)
        files = read_named_files(settings)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    warnings = dead_features(settings, files)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    counted = f"; {len(warnings)} warning{'s' if len(warnings) > 1 else ''}" if warnings else ""
    keys = files.keys
    key = (f"key {keys.active.kid}" if keys.can_sign
           else f"no signing key: verifies only, with {', '.join(k['kid'] for k in keys.jwks()['keys'])}")
    click.echo(f"configuration OK (issuer {settings.jwt_issuer}, {key}{counted})")


@main.command("settings-doc")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="write the reference to this file (docs/configuration.md) instead of printing it")
@click.option("--check", is_flag=True, default=False,
              help="exit 1 when --out differs from the declarations, writing nothing")
def settings_doc(out: str | None, check: bool) -> None:
    """The configuration reference (docs/configuration.md), generated from the settings' declarations."""
    from .settings import reference_markdown
    text = reference_markdown()
    if out is None:
        if check:
            raise click.UsageError("--check needs --out")
        click.echo(text, nl=False)
        return
    path = Path(out)
    if check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            click.echo(f"{out} differs from the declarations in app/settings/declarations.py; run: gatehouse settings-doc "
                       f"--out {out}", err=True)
            sys.exit(1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@main.command("assertion")
@click.option("--client-id", required=True, help="the client (iss and sub of the assertion)")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False), required=True,
              help="the client's private key (PEM)")
@click.option("--audience", required=True, help="the token endpoint URL or the issuer")
@click.option("--kid", default=None, help="key id header (the registered key's kid)")
@click.option("--lifetime", type=int, default=60, show_default=True, help="seconds until exp")
def assertion(client_id: str, key_file: str, audience: str, kid: str | None, lifetime: int) -> None:
    """Print a signed private_key_jwt client assertion (RFC 7523) for curl."""
    try:
        key = load_private_key(Path(key_file).read_bytes(), None, kid or "")
    except KeyLoadError as exc:
        raise click.ClickException(str(exc))
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
              "exp": now + lifetime, "jti": tokens.new_jti()}
    from jose import jwt
    headers = {"kid": kid} if kid else {}
    click.echo(jwt.encode(claims, key.private, algorithm=key.alg, headers=headers))


CHECK_OPTIONS = (
    click.option("--method", required=True, help="the original request's method (GET, POST, ...)"),
    click.option("--uri", required=True, help="the original request's URI (path and query)"),
    click.option("--token", default=None, help="bearer token to present"),
    click.option("--header", "headers", multiple=True, help="extra header, Name: value (repeatable)"),
    CONFIG_OPTION,
)


def _with_check_options(command: Any) -> Any:
    for option in reversed(CHECK_OPTIONS):
        command = option(command)
    return command


@main.command("check")
@_with_check_options
def check(method: str, uri: str, token: str | None, headers: tuple[str, ...], config: str | None) -> None:
    """Explain what /auth answers for a request: rule, principal, expression, outcome, reason.

    Exit status: 0 allowed, 1 refused (401/403; `code` says why, e.g. `revoked`), 2 the check
    could not be made (configuration refused, bad option, a store down)."""
    _explain(method, uri, token, headers, config)


@main.command("explain")
@click.option("--user", default=None, help="ask for this user (userId or email), as their login session would call")
@click.option("--client", "client_id", default=None,
              help="ask for this client, as a token with every scope it may ask for would call")
@_with_check_options
def explain(method: str, uri: str, token: str | None, headers: tuple[str, ...], config: str | None,
            user: str | None, client_id: str | None) -> None:
    """Ask before it happens: what /auth would answer a user, a client or a token for a request —
    the route matched, the principal (groups, permissions, scopes as MongoDB holds them now), the
    outcome and why. Reads only: no session is opened, no token issued, nothing written.

    Exit status: 0 allowed, 1 refused (a blocked user or disabled client too), 2 the question
    cannot be answered (no such user or client, configuration refused, a store down)."""
    named = [f"--{name}" for name, value in (("user", user), ("client", client_id), ("token", token)) if value]
    if len(named) > 1:
        raise click.UsageError(f"give one of --user, --client and --token, not {' and '.join(named)}")
    _explain(method, uri, token, headers, config, user, client_id)


def _explain(method: str, uri: str, token: str | None, headers: tuple[str, ...], config: str | None,
             user: str | None = None, client_id: str | None = None) -> None:
    """The decision for the request and the caller, printed as /auth/explain answers it; exit 0, 1 or 2."""
    from werkzeug.datastructures import Headers

    from .core.errors import GatehouseError
    from .core.explain import named_identity
    from .core.check.policy.decision import ALLOW
    from .core.check.policy.decision import explain as explain_decision
    from .request_parsing import parse_cookies
    from .services import build_services
    request_headers = Headers()
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise click.UsageError(f"--header must be 'Name: value', got {item!r}")
        request_headers.add(name.strip(), value.strip())
    if (user or client_id) and "Authorization" in request_headers:
        raise click.UsageError("give --user or --client, or an Authorization header, not both")
    try:
        svc = build_services(_settings(config))
    except ConfigError as exc:
        click.echo("configuration refused:\n  - " + "\n  - ".join(exc.problems), err=True)
        sys.exit(2)
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    request_headers["X-Original-URI"], request_headers["X-Original-Method"] = uri, method
    try:
        identity = named_identity(svc.users, svc.registry, user, client_id)
        cookie = request_headers.get("Cookie")
        decision = svc.authorizer.check(request_headers, parse_cookies(cookie) if cookie else {},
                                        identity=identity)
    except GatehouseError as exc:
        click.echo(f"cannot decide: {exc.description}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - exit 1 means "refused": anything else is an error
        click.echo(f"cannot decide: {type(exc).__name__}: {exc}", err=True)
        sys.exit(2)
    _echo_json(explain_decision(decision, svc.authorizer.is_backoffice(request_headers)))
    if decision.code == "bad_request":  # e.g. --method BREW: the question, not the answer, is wrong
        click.echo(f"cannot decide: {decision.reason}", err=True)
        sys.exit(2)
    if decision.status != ALLOW:
        click.echo(f"refused ({decision.code}): {decision.reason}", err=True)
        sys.exit(1)


@main.group("api-keys")
def api_keys() -> None:
    """API keys that resolve to a clientType at /auth."""


@api_keys.command("generate")
@click.option("--client-type", required=True, help="the clientType the key resolves to")
def api_keys_generate(client_type: str) -> None:
    """Print a new key (give it to the client) and the entry for `api_keys` in the config file."""
    import secrets as random
    from .core.check.verifiers.api_keys import api_key_hash
    key = random.token_urlsafe(32)
    _echo_json({"key": key, "config_entry": {"sha256": api_key_hash(key), "clientType": client_type}})


@main.command("nginx-config")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="nginx's listen address")
@click.option("--gatehouse", default="127.0.0.1:3000", show_default=True, help="Gatehouse address")
@click.option("--gatehouse-check", default=None,
              help="the group answering /auth, when separate: `gatehouse serve-check`'s uwsgi socket (or its "
                   "HTTP port with CHECK_SERVER=gunicorn) (default: --gatehouse, one group for everything)")
@click.option("--upstream", required=True, help="protected application address (host:port)")
@click.option("--runtime", type=click.Path(file_okay=False), required=True,
              help="writable directory for pid, logs, temp files and the decision cache")
@click.option("--cache/--no-cache", default=False, help="cache auth decisions per credential")
@click.option("--cache-ttl", default="5s", show_default=True, help="how long a cached decision lives")
@click.option("--backoffice-listen", default=None,
              help="a second listener (host:port, its own port) judged by the routes' backofficeAuthorization")
@click.option("--check-protocol", type=click.Choice(["http", "uwsgi"]), default=None,
              help="how nginx talks to the /auth group given as --gatehouse-check: uwsgi (`gatehouse serve-check`'s "
                   "--socket) or http (gunicorn) [default: uwsgi with CHECK_SERVER=uwsgi, the default; http with "
                   "CHECK_SERVER=gunicorn or without --gatehouse-check]")
def nginx_config(listen: str, gatehouse: str, gatehouse_check: str | None, upstream: str, runtime: str, cache: bool,
                 cache_ttl: str, backoffice_listen: str | None, check_protocol: str | None) -> None:
    """Print the shipped nginx config (deploy/nginx/gatehouse.conf.in) filled in."""
    from .serving.nginx_config import render
    from .settings import ConfigError, load_setting
    if check_protocol is None:
        try:
            server = load_setting("check_server")
        except ConfigError as exc:
            raise click.ClickException("; ".join(exc.problems))
        check_protocol = "uwsgi" if gatehouse_check and server == "uwsgi" else "http"
    try:
        click.echo(render(listen, gatehouse, upstream, Path(runtime), cache, cache_ttl, gatehouse_check,
                          backoffice_listen, check_protocol), nl=False)
    except ValueError as exc:
        raise click.ClickException(str(exc))


@main.command("serve-check")
@click.option("--http", default=None, help="HTTP socket for /-/ready, /-/healthz, /-/metrics "
              "(default: GATEHOUSE_BIND:HTTP_PORT)")
@click.option("--socket", default=None, help="uwsgi-protocol socket for nginx's uwsgi_pass, with CHECK_SERVER=uwsgi; "
              "`none`: no uwsgi socket (default: GATEHOUSE_CHECK_SOCKET, else 127.0.0.1 and the HTTP port + 1)")
@click.option("--processes", type=int, default=None,
              help="worker processes (default: GUNICORN_WORKERS, else one per core)")
def serve_check(http: str | None, socket: str | None, processes: int | None) -> None:
    """Run the /auth process group: uWSGI (CHECK_SERVER=uwsgi, the default) or gunicorn (CHECK_SERVER=gunicorn)."""
    from .serving.uwsgi_check import serve
    sys.exit(serve(http, socket, processes))


@main.command("dev")
@click.option("--port", type=int, default=3000, show_default=True, help="Gatehouse (token, login, BFF, admin)")
@click.option("--redis-port", type=int, default=6380, show_default=True, help="the embedded Redis")
@click.option("--mongo-port", type=int, default=27018, show_default=True,
              help="the embedded MongoDB-wire server")
@click.option("--var-dir", default="var", show_default=True, help="data, keys, logs and config of the run")
@click.option("--workers", type=int, default=2, show_default=True,
              help="gunicorn workers of the app group (the /auth group runs one per core, as in production)")
@click.option("--provider-port", type=int, default=9400, show_default=True,
              help="the development OIDC provider")
@click.option("--nginx-port", type=int, default=8080, show_default=True, help="nginx with the shipped config")
@click.option("--upstream-port", type=int, default=9000, show_default=True,
              help="the demo upstream behind nginx")
@click.option("--check-port", type=int, default=3001, show_default=True,
              help="the group answering nginx's /auth (with nginx): its HTTP port (probes, metrics)")
@click.option("--config", "overlay", type=click.Path(dir_okay=False), default=None,
              help="a config file laid over the generated one: its keys (e.g. apps, bff, issuers, "
                   "routes_file, mongodb_url) replace the development defaults")
@click.option("--check-server", type=click.Choice(["uwsgi", "gunicorn"]), default=None,
              help="the server of the /auth group: uwsgi (nginx's uwsgi_pass to a unix socket in the var directory) or "
                   "gunicorn (gevent, HTTP) [default: CHECK_SERVER, else uwsgi, as in production]")
def dev(port: int, redis_port: int, mongo_port: int, var_dir: str, workers: int, provider_port: int,
        nginx_port: int, upstream_port: int, check_port: int, overlay: str | None, check_server: str | None) -> None:
    """Run everything on embedded defaults (Redis, MongoDB-wire server, dev OIDC provider, nginx)."""
    if _top_config():
        raise click.UsageError("`gatehouse dev` takes its --config after `dev`: a file laid over the generated one")
    # The development stack is its own package (gatehouse_dev), imported here only: the product
    # never imports it (tests/unit/test_layout.py).
    from gatehouse_dev.runner import run
    sys.exit(run(port=port, redis_port=redis_port, mongo_port=mongo_port, var_dir=Path(var_dir),
                 workers=workers, provider_port=provider_port,
                 nginx_port=nginx_port, upstream_port=upstream_port, check_port=check_port,
                 overlay=Path(overlay) if overlay else None, check_server=check_server))


__all__ = ["main", "ASSERTION_TYPE"]
