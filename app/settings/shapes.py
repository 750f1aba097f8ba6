"""The nested shapes of the config file (`apps` and their providers, `bff`, `issuers`, `api_keys`,
`introspection`), each declared once.

A shape that fills one of the core's configuration dataclasses, `class XSchema(Shape[X])`, is X's one
declaration on the settings' side: each field is named as the field of X it fills, `data_key` is the
file's key where the two differ (Mia's camelCase), and the default is X's, stated there only. The
settings keep what a shape loads as a plain mapping; the composition (app/services.py) builds X
from it with the shape's `build`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Generic, Mapping, TypeVar, cast, get_args, get_origin

from marshmallow import Schema, ValidationError, fields, missing, post_load, validate, validates_schema
from marshmallow.schema import SchemaMeta

from ..core.errors import BadRequest
from ..core.external_tokens import ClaimMapping, ExternalIssuer
from ..core.login.bff import MODES as BFF_MODES
from ..core.login.bff import BffConfig
from ..core.login.providers import OIDC_TYPES, PROVIDER_TYPES, ProviderConfig
from ..core.login.sessions import AppConfig, CookieConfig
from ..core.redirects import safe_redirect
from ..core.tokens import ALLOWED_ALGORITHMS
from .kinds import CommaList, ScopeList, url

T = TypeVar("T")


class ShapeMeta(SchemaMeta):
    """Makes `class XSchema(Shape[X])` the shape of the dataclass X: every field names one of X's fields
    (or one of the shape's `ignored_keys`) and takes X's default; a field X lacks, or a default the
    shape states where X has one, is refused when the class is made."""

    core: type
    ignored_keys: tuple[str, ...]

    def __init__(cls, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> None:
        super().__init__(name, bases, attrs)
        core = next((get_args(b)[0] for b in attrs.get("__orig_bases__", ())
                     if isinstance(get_origin(b), ShapeMeta)), None)
        if core is None or isinstance(core, TypeVar):
            return
        cls.core = core
        defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory
                    for f in dataclasses.fields(core)}
        for key, kind in cls._declared_fields.items():
            if key in cls.ignored_keys:
                continue
            if key not in defaults:
                raise TypeError(f"{name}.{key}: {core.__name__} has no field {key}")
            default = defaults[key]
            if default is dataclasses.MISSING:
                continue
            if kind.load_default is not missing:
                raise TypeError(f"{name}.{key}: the default is {core.__name__}'s, stated there only")
            if dataclasses.is_dataclass(default) and not isinstance(default, type):
                # a nested shape's default: the mapping it would load
                kind.load_default = lambda value=default: dataclasses.asdict(value)
            else:
                kind.load_default = default
                kind.allow_none = kind.allow_none or default is None


class Shape(Schema, Generic[T], metaclass=ShapeMeta):
    """The shape of one of the core's configuration dataclasses (see the module's docstring)."""

    core: ClassVar[type]
    # keys accepted (and validated) for compatibility, then dropped: the core has no use for them
    ignored_keys: ClassVar[tuple[str, ...]] = ()

    def file_key(self, name: str) -> str:
        """The config file's key of a field."""
        return self.fields[name].data_key or name

    @post_load
    def _core_values(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The core's frozen dataclasses hold tuples.
        return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k not in self.ignored_keys}

    @classmethod
    def build(cls: type[Shape[T]], data: Mapping[str, Any], **given: Any) -> T:
        """The core dataclass from what the shape loaded, nested shapes built too; `given` supplies what
        the file alone does not (an id, a signer, a default drawn from other settings)."""
        values = dict(data)
        for name, kind in cls._declared_fields.items():
            if isinstance(kind, fields.Nested) and name not in given and values.get(name) is not None:
                values[name] = kind.nested.build(values[name])  # type: ignore[union-attr]
        return cast(T, cls.core(**{**values, **given}))


class ClaimMappingSchema(Shape[ClaimMapping]):
    id = fields.String()
    groups = CommaList()
    scopes = CommaList()
    permissions = fields.String()
    client_type = fields.String(data_key="clientType")


class IssuerSchema(Shape[ExternalIssuer]):
    """A trusted external issuer of bearer JWTs (config file key `issuers`)."""

    issuer = fields.String(required=True, validate=validate.Length(min=1, max=512))
    audiences = CommaList(data_key="audience", required=True)
    algorithms = fields.List(fields.String(validate=validate.OneOf(ALLOWED_ALGORITHMS)),
                             validate=validate.Length(min=1))
    jwks_uri = fields.String(validate=url({"http", "https"}))
    discovery_url = fields.String(validate=url({"http", "https"}))
    inline_jwks = fields.Dict(data_key="jwks")
    leeway = fields.Integer(validate=validate.Range(0, 300))
    claims = fields.Nested(ClaimMappingSchema)

    @validates_schema
    def _one_source(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(data.get(k) is not None for k in ("jwks_uri", "discovery_url", "inline_jwks")) != 1:
            raise ValidationError("give exactly one of jwks_uri, discovery_url, jwks", "jwks_uri")


class ApiKeySchema(Schema):
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 hex characters"))
    clientType = fields.String(required=True, validate=validate.Length(min=1, max=128))


class IntrospectionSchema(Schema):
    endpoint = fields.String(required=True, validate=url({"http", "https"}))
    client_id = fields.String(required=True, validate=validate.Length(min=1))
    client_secret = fields.String(required=True, validate=validate.Length(min=1))
    max_cache_seconds = fields.Integer(load_default=300, validate=validate.Range(0, 3600))


class CookieSchema(Shape[CookieConfig]):
    secure = fields.Boolean()
    same_site = fields.String(data_key="sameSite", validate=validate.OneOf(["Lax", "Strict", "None"]))
    domain = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9.\-]{1,253}$", error="must be a host name"))


class ProviderSchema(Shape[ProviderConfig]):
    """One provider of an app (Mia's `apps.<app>.providers.<provider>`)."""

    # Mia's login site links a provider's userSettingsURL: a Mia file still loads, the key ignored.
    ignored_keys = ("userSettingsURL",)

    type = fields.String(required=True, validate=validate.OneOf(PROVIDER_TYPES))
    client_id = fields.String(data_key="clientId", required=True, validate=validate.Length(min=1, max=512))
    client_secret = fields.String(data_key="clientSecret")
    auth_url = fields.String(data_key="authUrl", validate=url({"http", "https"}))
    token_url = fields.String(data_key="tokenUrl", validate=url({"http", "https"}))
    userinfo_url = fields.String(data_key="userInfoUrl", validate=url({"http", "https"}))
    logout_url = fields.String(data_key="logoutUrl", validate=url({"http", "https"}))
    base_url = fields.String(data_key="baseUrl", validate=url({"http", "https"}))
    discovery_url = fields.String(data_key="discoveryUrl", validate=url({"http", "https"}))
    userSettingsURL = fields.String(allow_none=True)
    scope = ScopeList()
    order = fields.Integer()
    label = fields.String(validate=validate.Length(min=1, max=200))
    token_auth_method = fields.String(data_key="tokenEndpointAuthMethod", validate=validate.OneOf(
        ["client_secret_basic", "client_secret_post", "private_key_jwt"]))
    id_token_fallback = fields.Boolean(data_key="idTokenFallback")

    @validates_schema
    def _endpoints(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["type"] in OIDC_TYPES and not (data.get("discovery_url") or data.get("base_url")):
            raise ValidationError(f"an {data['type']} provider needs discoveryUrl or baseUrl",
                                  self.file_key("discovery_url"))
        if data["type"] == "generic":
            missing_keys = [self.file_key(k) for k in ("auth_url", "token_url", "userinfo_url") if not data.get(k)]
            if missing_keys:
                raise ValidationError("a generic provider needs authUrl, tokenUrl and userInfoUrl", missing_keys[0])


class AppSchema(Shape[AppConfig]):
    """One app (Mia's `apps.<app>`)."""

    providers = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._\-]{1,64}$",
                                                                        error="must be 1-64 of A-Z a-z 0-9 . _ -")),
                            values=fields.Nested(ProviderSchema), required=True, validate=validate.Length(min=1))
    redirect_url = fields.String(data_key="redirectUrl", required=True, validate=url({"http", "https"}))
    realm = fields.String(validate=validate.Length(max=200))
    # the apps' default is the JWT_ISSUER setting (app/services.py)
    issuer = fields.String(load_default=None, validate=validate.Length(min=1, max=512))
    default_groups = fields.List(fields.String(validate=validate.Length(min=1, max=200)), data_key="defaultGroups")
    is_website_app = fields.Boolean(data_key="isWebsiteApp")
    allowed_redirects = fields.List(fields.String(validate=url({"http", "https"})),
                                    data_key="allowedRedirectUrlsOnSuccessfulLogin")
    default_redirect = fields.String(data_key="defaultRedirectUrlOnSuccessfulLogin")
    cookie = fields.Nested(CookieSchema)
    session_expires_in = fields.Integer(data_key="sessionExpiresIn", validate=validate.Range(60, 7 * 86400))
    refresh_expires_in = fields.Integer(data_key="refreshTokenExpiresIn", validate=validate.Range(300, 365 * 86400))

    @validates_schema
    def _redirect(self, data: dict[str, Any], **kwargs: Any) -> None:
        try:
            safe_redirect(data.get("default_redirect"), tuple(data.get("allowed_redirects") or ()))
        except BadRequest as exc:
            raise ValidationError(exc.description, self.file_key("default_redirect")) from exc


class BffSchema(Shape[BffConfig]):
    """The Backend-for-Frontend client (docs/bff.md): one OIDC provider, Gatehouse as a confidential
    client."""

    mode = fields.String(load_default="bff", validate=validate.OneOf(BFF_MODES))
    provider = fields.Nested(ProviderSchema, required=True)
    redirect_url = fields.String(data_key="redirectUrl", required=True, validate=url({"http", "https"}))
    # the default is our logout callback on redirectUrl's origin (app/services.py)
    post_logout_redirect_url = fields.String(data_key="postLogoutRedirectUrl", load_default=None,
                                             validate=url({"http", "https"}))
    default_redirect = fields.String(data_key="defaultRedirectUrl")
    allowed_redirects = fields.List(fields.String(validate=url({"http", "https"})), data_key="allowedRedirectUrls")
    allowed_origins = fields.List(fields.String(validate=validate.Regexp(
        r"^https?://[A-Za-z0-9.\-\[\]:]+$", error="must be an origin like https://app.example.com")),
        data_key="allowedOrigins")
    csrf_header = fields.String(data_key="csrfHeader", validate=validate.Regexp(
        r"^[A-Za-z0-9\-]{1,64}$", error="must be a header name"))
    cookie_name = fields.String(data_key="cookieName", validate=validate.Regexp(
        r"^__Host-[A-Za-z0-9_\-]{1,64}$", error="must start with __Host- (then A-Z a-z 0-9 _ -)"))
    session_lifetime = fields.Integer(data_key="sessionLifetimeSeconds", validate=validate.Range(300, 30 * 86400))
    refresh_margin = fields.Integer(data_key="refreshMarginSeconds", validate=validate.Range(0, 3600))
    refresh_wait_seconds = fields.Float(data_key="refreshWaitSeconds", validate=validate.Range(0.5, 60))
    groups_claim = fields.String(data_key="groupsClaim", validate=validate.Length(min=1, max=200))

    @validates_schema
    def _client(self, data: dict[str, Any], **kwargs: Any) -> None:
        provider = data["provider"]
        if provider["type"] not in OIDC_TYPES:
            raise ValidationError("the BFF needs an OpenID Connect provider (" + ", ".join(OIDC_TYPES) + ")",
                                  "provider")
        if provider["token_auth_method"] != "private_key_jwt" and not provider.get("client_secret"):
            raise ValidationError("a confidential client needs clientSecret, or tokenEndpointAuthMethod "
                                  "private_key_jwt", "provider")
        try:
            safe_redirect(data.get("default_redirect"), tuple(data.get("allowed_redirects") or ()))
        except BadRequest as exc:
            raise ValidationError(exc.description, self.file_key("default_redirect")) from exc
