"""How large an identity Gatehouse takes, wherever one comes in (the admin API and CLI, a
provider's claims at a BFF login, the user record at a browser login or refresh).

500 groups: Entra ID puts at most 200 in a token and Keycloak's group mappers and LDAP
federations commonly give 50-200; 500 leaves room above that while keeping a session record and
each /auth decision bounded. 256 characters a group: Active Directory's and LDAP's common name
and Keycloak's group names fit; longer values are paths, not names. Names: 1,024 characters,
emails 320 (RFC 3696's 64 + @ + 255). An identity past these is refused with a message naming
the limit: never truncated (a group silently dropped would change decisions)."""
from __future__ import annotations

from typing import Any, Mapping

from .errors import Forbidden

MAX_GROUPS = 500
MAX_GROUP_LENGTH = 256
MAX_NAME_LENGTH = 1024  # name and username
MAX_EMAIL_LENGTH = 320
NAME_FIELDS = ("name", "username", "preferred_username")


class IdentityTooLarge(Forbidden):
    """A user past one of the limits above: they cannot sign in until an administrator (or the
    provider) trims the identity."""

    error = "identity_too_large"


def identity_problem(user: Mapping[str, Any]) -> str | None:
    """What makes this user's identity (groups, name, email) too large, or None."""
    groups = user.get("groups")
    if isinstance(groups, (list, tuple)):
        if len(groups) > MAX_GROUPS:
            return f"the user has {len(groups)} groups; Gatehouse supports at most {MAX_GROUPS} groups per user"
        longest = max((len(g) for g in groups if isinstance(g, str)), default=0)
        if longest > MAX_GROUP_LENGTH:
            return (f"the user has a group name of {longest} characters; Gatehouse supports group names "
                    f"of at most {MAX_GROUP_LENGTH} characters")
    for name in NAME_FIELDS:
        value = user.get(name)
        if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
            return f"the user's {name} has {len(value)} characters; at most {MAX_NAME_LENGTH} are supported"
    email = user.get("email")
    if isinstance(email, str) and len(email) > MAX_EMAIL_LENGTH:
        return f"the user's email has {len(email)} characters; at most {MAX_EMAIL_LENGTH} are supported"
    return None


def ensure_identity_fits(user: Mapping[str, Any]) -> None:
    problem = identity_problem(user)
    if problem is not None:
        raise IdentityTooLarge(problem)
