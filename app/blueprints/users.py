"""Users managed by an administrator (admin bearer token, as /clients): GET /users (filters,
paging), GET /users/<id>, POST /users (pre-provision), PATCH /users/<id>, DELETE /users/<id>.
A block (PATCH blocked: true) and a delete answer what they ended: sessionsEnded and
bffSessionsEnded."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.wrappers import Response
from ..core.records import UserChanges, UserQuery
from ..core.login.users import NewUser
from ..request_parsing import load_args, load_json
from ..responses import no_store
from ..schemas import UserCreateSchema, UserPatchSchema, UserQuerySchema
from ..services import services, user_admin

bp = Blueprint("users", __name__)
# The largest user an administrator may send: MAX_GROUPS groups of MAX_GROUP_LENGTH characters
# (up to 6 bytes each as JSON escapes) and 4 KB of metadata; more than MAX_BODY_BYTES, which
# bounds the bodies anyone may send. Read only once the admin token has been checked.
USER_BODY_BYTES = 1024 * 1024


def _admin() -> None:
    services().tokens.require_admin(request.headers.get("Authorization"))
    request.max_content_length = max(USER_BODY_BYTES, services().settings.max_body_bytes)


def changes_of(body: dict[str, Any]) -> UserChanges:
    """A PATCH body (validated by UserPatchSchema) as the changes core applies."""
    return UserChanges(
        groups=tuple(body["groups"]) if "groups" in body else None,
        add_groups=tuple(body.get("add_groups") or ()), remove_groups=tuple(body.get("remove_groups") or ()),
        metadata=body.get("metadata"), blocked=body.get("blocked"))


@bp.get("/users")
def list_users() -> Response:
    _admin()
    args = load_args(UserQuerySchema())
    limit, skip = args.pop("limit"), args.pop("skip")
    users, total = user_admin().list(UserQuery(**args), limit, skip)
    response = no_store(jsonify(users))
    response.headers["X-Total-Count"] = str(total)
    return response


@bp.get("/users/<user_id>")
def show(user_id: str) -> Response:
    _admin()
    return no_store(jsonify(user_admin().get(user_id)))


@bp.post("/users")
def create() -> tuple[Response, int]:
    _admin()
    user = user_admin().create(NewUser(**load_json(UserCreateSchema())))
    response = no_store(jsonify(user))
    response.headers["Location"] = f"{services().settings.service_prefix}/users/{user['userId']}"
    return response, 201


@bp.patch("/users/<user_id>")
def update(user_id: str) -> Response:
    _admin()
    user, ended = user_admin().change(user_id, changes_of(load_json(UserPatchSchema())))
    return no_store(jsonify({**user, **ended.body()} if ended is not None else user))


@bp.delete("/users/<user_id>")
def delete(user_id: str) -> Response:
    _admin()
    ended = user_admin().delete(user_id)
    return no_store(jsonify({"userId": user_id, "endedSessions": ended.sessions, **ended.body()}))
