"""The answer memo's own rules (app/answer_memo.py), with no check behind it: the key covers every
header name known when it was made, a name learned between a key and its put keeps nothing under
the old key, the table of names at its limit keeps nothing, the size bound, the entry bound."""
from __future__ import annotations

from app.answer_memo import MAX_KEPT_CHARACTERS, AnswerMemo, Kept


def kept(headers: tuple[tuple[str, str], ...] = (("mia-allowed", "1"),)) -> Kept:
    return Kept(204, "204 NO CONTENT", headers, decision=None, original=None, basis=None)  # type: ignore[arg-type]


def environ(**values: str) -> dict[str, str]:
    return {"PATH_INFO": "/auth", "REQUEST_METHOD": "GET", "HTTP_X_ORIGINAL_URI": "/orders", **values}


def test_a_header_known_to_any_check_is_part_of_every_key():
    known: dict[str, str] = {"X-Original-URI": "HTTP_X_ORIGINAL_URI"}
    memo = AnswerMemo(8, known, 256)
    first = environ(HTTP_AUTHORIZATION="Bearer a")
    memo.put(first, memo.key(first), kept())
    assert memo.get(memo.key(environ(HTTP_AUTHORIZATION="Bearer b"))) is not None, "Authorization unknown yet"
    known["Authorization"] = "HTTP_AUTHORIZATION"  # a check asked for it: what was kept is gone
    assert memo.get(memo.key(environ(HTTP_AUTHORIZATION="Bearer b"))) is None and len(memo) == 0
    memo.put(first, memo.key(first), kept())
    assert memo.get(memo.key(environ(HTTP_AUTHORIZATION="Bearer b"))) is None
    assert memo.get(memo.key(first)) is not None


def test_a_name_learned_during_the_check_keys_its_answer_with_that_name():
    known: dict[str, str] = {}
    memo = AnswerMemo(8, known, 256)
    request = environ(HTTP_ISBACKOFFICE="true")
    before = memo.key(request)
    known["isbackoffice"] = "HTTP_ISBACKOFFICE"  # asked for the first time by this very check
    memo.put(request, before, kept())
    assert memo.get(memo.key(environ(HTTP_ISBACKOFFICE="false"))) is None
    assert memo.get(memo.key(request)) is not None


def test_a_stale_key_is_not_kept():
    known: dict[str, str] = {}
    memo = AnswerMemo(8, known, 256)
    request = environ()
    stale = memo.key(request)
    known["isbackoffice"] = "HTTP_ISBACKOFFICE"
    memo.key(request)  # another check relearned meanwhile
    memo.put(request, stale, kept())
    assert len(memo) == 1 and memo.get(stale) is None  # kept under the new key, never the stale one


def test_nothing_is_kept_once_the_names_table_is_full():
    known = {f"h{i}": f"HTTP_H{i}" for i in range(4)}
    memo = AnswerMemo(8, known, 4)
    assert memo.key(environ()) is None
    memo.put(environ(), None, kept())
    assert len(memo) == 0


def test_large_requests_and_answers_are_not_kept_and_the_memo_is_bounded():
    memo = AnswerMemo(2, {}, 256)
    big = environ(HTTP_COOKIE="x" * MAX_KEPT_CHARACTERS)
    memo.put(big, memo.key(big), kept())
    memo.put(environ(), memo.key(environ()), kept((("miausergroups", "g" * MAX_KEPT_CHARACTERS),)))
    assert len(memo) == 0
    requests = [environ(HTTP_COOKIE=f"sid={i}") for i in range(3)]
    for request in requests:
        memo.put(request, memo.key(request), kept())
    assert len(memo) == 2 and memo.get(memo.key(requests[0])) is None  # the oldest went first
