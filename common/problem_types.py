"""The problem types of the API: each error `code`, its `type` URI and what it means, and the body.

Kept apart from `common.exceptions` (which maps Django's and DRF's errors onto these) and free of
Django: gunicorn's workers answer the requests they refuse before the app with the same bodies
(`config/gunicorn_workers.py`).
"""

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PATH = "/api/problems/"


@dataclass(frozen=True)
class ProblemType:
    title: str
    description: str


# Every `code` the API answers, with the title of its problem type and what a client should do.
# `GET /api/problems/<code>` serves the entry; the README's contract lists them.
PROBLEM_TYPES: dict[str, ProblemType] = {
    "invalid": ProblemType("Invalid input", "A field or parameter is invalid; `errors` names each one."),
    "parse_error": ProblemType("Malformed request body", "The body is not valid JSON; fix it before retrying."),
    "bad_request": ProblemType("Bad request", "The request was refused before it reached the API."),
    "not_authenticated": ProblemType("Authentication required", "Send `Authorization: Bearer <access_token>`."),
    "authentication_failed": ProblemType("Authentication failed", "The credentials were refused."),
    "token_not_valid": ProblemType("Token not valid", "The token is expired, revoked or malformed; log in again."),
    "invalid_credentials": ProblemType("Invalid credentials", "The email or password is wrong."),
    "permission_denied": ProblemType("Permission denied", "The caller's role does not allow this."),
    "not_found": ProblemType("Not found", "No such resource (or not one the caller may see), or no such page."),
    "method_not_allowed": ProblemType("Method not allowed", "The resource does not answer this method."),
    "not_acceptable": ProblemType("Not acceptable", "The API answers JSON only."),
    "unsupported_media_type": ProblemType("Unsupported media type", "Send the body as `application/json`."),
    "payload_too_large": ProblemType("Request body too large", "The body is over the size limit."),
    "expectation_failed": ProblemType(
        "Expectation failed", "The server meets no `Expect` but `100-continue`; send the request without it."
    ),
    "uri_too_long": ProblemType(
        "URI too long", "The request line is over the server's limit; send fewer or shorter query parameters."
    ),
    "headers_too_large": ProblemType(
        "Request header fields too large", "A header is over the size limit, or there are too many headers."
    ),
    "precondition_failed": ProblemType(
        "Precondition failed", "The resource changed since the `If-Match` ETag was read; GET it again."
    ),
    "precondition_required": ProblemType(
        "Precondition required", "Send `If-Match` with the ETag of the version being changed."
    ),
    "idempotency_key_in_use": ProblemType(
        "Idempotency key in use", "A request with this `Idempotency-Key` is still running; retry shortly."
    ),
    "idempotency_key_reused": ProblemType(
        "Idempotency key reused", "This `Idempotency-Key` was sent with another request body; use a new key."
    ),
    "throttled": ProblemType("Too many requests", "Retry after `Retry-After` seconds."),
    "not_implemented": ProblemType(
        "Not implemented", "The request needs what the server does not do (an unknown `Transfer-Encoding`)."
    ),
    "server_error": ProblemType("Internal server error", "Something failed on the server; it has been logged."),
    "service_unavailable": ProblemType(
        "Service unavailable", "A dependency is unreachable; retry after `Retry-After`."
    ),
}


def problem_type_uri(code: str) -> str:
    """The problem's `type`: a path of this API for a known code, `about:blank` otherwise (RFC 9457 4.2.1)."""
    return f"{PROBLEM_TYPE_PATH}{code}" if code in PROBLEM_TYPES else "about:blank"


def problem(*, status: int, code: str, detail: str) -> dict[str, Any]:
    """A problem detail's members: `type` and `title` from the code's problem type (`about:blank` and
    the status's phrase for a code it does not have)."""
    known = PROBLEM_TYPES.get(code)
    return {
        "type": problem_type_uri(code),
        "title": known.title if known else HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
