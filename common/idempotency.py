"""`Idempotency-Key` on creates: a client may repeat a POST safely, and it is written once.

The first request with a key is handled normally and its answer kept (`IdempotencyKey`) for
`IDEMPOTENCY_KEY_TTL_HOURS`, per user. A repeat with the same key and body gets the kept answer
again, with `Idempotent-Replayed: true`, and writes nothing; with another body it is a 422; while
the first is still running, a 409. Only successful answers are kept: a refused or failed create
frees its key, so that the corrected request can be sent with it.

Cost on the first request: two statements (claim the key; keep the answer).
"""

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any, cast

import orjson
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.exceptions import Problem
from common.models import KEY_MAX_LENGTH, IdempotencyKey
from common.renderers import FastJSONRenderer

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(rf"^[\x21-\x7e]{{1,{KEY_MAX_LENGTH}}}$")
# The messages of its errors.
_IN_USE = "A request with this Idempotency-Key is still being handled; retry shortly."
_REUSED = "This Idempotency-Key was used with a different request; send a new key."


class IdempotencyKeyInUse(Problem, status=409, code="idempotency_key_in_use", detail=_IN_USE):
    """A repeat of a create that is still running."""


class IdempotencyKeyReused(Problem, status=422, code="idempotency_key_reused", detail=_REUSED):
    """The key of an earlier create, sent with another body."""


def idempotent[View: Callable[..., Response]](create: View) -> View:
    """Makes a view's `create` honour `Idempotency-Key` (and marks it so for the schema)."""

    @functools.wraps(create)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return create(view, request, *args, **kwargs)
        if not _VALID_KEY.match(key):
            raise exceptions.ValidationError({HEADER: [f"Use 1 to {KEY_MAX_LENGTH} visible ASCII characters."]})
        user_id = int(request.user.pk)  # type: ignore[arg-type] # creates need a signed-in user
        fingerprint = _fingerprint(request)
        if not IdempotencyKey.objects.claim(user_id=user_id, key=key, fingerprint=fingerprint):
            return _replay(user_id=user_id, key=key, fingerprint=fingerprint)
        try:
            response = create(view, request, *args, **kwargs)
        except BaseException:
            IdempotencyKey.objects.filter(user_id=user_id, key=key).delete()
            raise
        if not status.is_success(response.status_code):
            IdempotencyKey.objects.filter(user_id=user_id, key=key).delete()
            return response
        IdempotencyKey.objects.filter(user_id=user_id, key=key).update(
            status_code=response.status_code, content=FastJSONRenderer().render(response.data).decode()
        )
        return response

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return cast("View", wrapper)


def _fingerprint(request: Request) -> str:
    """The same request: the same method, path and JSON body (whatever the order of its keys)."""
    body = orjson.dumps(request.data, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(b"\n".join((str(request.method).encode(), request.path.encode(), body))).hexdigest()


def _replay(*, user_id: int, key: str, fingerprint: str) -> Response:
    record = IdempotencyKey.objects.live().filter(user_id=user_id, key=key).first()
    if record is None:  # the first request failed and freed the key just now: it may be sent again
        raise IdempotencyKeyInUse()
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if record.status_code is None:
        raise IdempotencyKeyInUse()
    return Response(orjson.loads(record.content), status=record.status_code, headers={REPLAYED_HEADER: "true"})
