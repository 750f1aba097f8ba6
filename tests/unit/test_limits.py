"""The identity limits (app/core/limits.py) every way in applies: a table of identities past
each limit, each named in the refusal, and the largest identities within them."""
from __future__ import annotations

import pytest

from app.core.limits import (MAX_EMAIL_LENGTH, MAX_GROUP_LENGTH, MAX_GROUPS, MAX_NAME_LENGTH, IdentityTooLarge,
                             ensure_identity_fits, identity_problem)

PAST = [
    ("too many groups", {"groups": [f"g{i}" for i in range(MAX_GROUPS + 1)]},
     f"the user has {MAX_GROUPS + 1} groups; Gatehouse supports at most {MAX_GROUPS} groups per user"),
    ("group too long", {"groups": ["ok", "g" * (MAX_GROUP_LENGTH + 1)]},
     f"group names of at most {MAX_GROUP_LENGTH} characters"),
    ("name too long", {"name": "é" * (MAX_NAME_LENGTH + 1)}, f"the user's name has {MAX_NAME_LENGTH + 1} characters"),
    ("username too long", {"username": "u" * (MAX_NAME_LENGTH + 1)}, "the user's username"),
    ("provider username too long", {"preferred_username": "u" * (MAX_NAME_LENGTH + 1)}, "preferred_username"),
    ("email too long", {"email": "e" * (MAX_EMAIL_LENGTH + 1)}, f"at most {MAX_EMAIL_LENGTH} are supported"),
]


@pytest.mark.parametrize("name,user,message", PAST, ids=[p[0] for p in PAST])
def test_an_identity_past_a_limit_is_refused_naming_it(name, user, message):
    with pytest.raises(IdentityTooLarge, match=message) as refused:
        ensure_identity_fits(user)
    assert refused.value.status == 403 and refused.value.error == "identity_too_large"


@pytest.mark.parametrize("user", [
    {"groups": ["g" * MAX_GROUP_LENGTH] * MAX_GROUPS, "name": "渡" * MAX_NAME_LENGTH, "email": "e" * MAX_EMAIL_LENGTH},
    {"groups": [f"grp_{i:03d}_" + "x" * 32 for i in range(200)], "name": "Zoë Łukasiewicz"},
    {},
    {"groups": None, "name": None, "email": 5},  # not this check's business: other fields' validators
], ids=["at every limit", "200 groups of 40", "empty", "odd types"])
def test_identities_within_the_limits_pass(user):
    assert identity_problem(user) is None
