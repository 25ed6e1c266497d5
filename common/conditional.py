"""Conditional requests (RFC 9110 section 13): strong ETags from a version number, and the header checks.

The check that decides a conditional write is not here: it is the write itself (an UPDATE or DELETE
that names the version, see `tasks.services`), so that two writers holding the same ETag cannot both
pass. Here is only what HTTP says the headers mean.
"""

from django.conf import settings
from rest_framework.request import Request

from common.exceptions import PreconditionFailed, PreconditionRequired


def etag_for(version: int) -> str:
    """A strong ETag: it changes with every write of the resource, and only then."""
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def not_modified(request: Request, etag: str) -> bool:
    """`If-None-Match` names the current representation (weak comparison): answer 304."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


def required_version(request: Request, version: int) -> int | None:
    """The version a write must still find, from `If-Match`; `None` when the write is unconditional.

    `If-Match` naming another version is a 412 at once; without it, a 428 when `REQUIRE_IF_MATCH`
    is on. Weak tags never match (strong comparison, RFC 9110 section 13.1.1).
    """
    header = request.headers.get("If-Match")
    if header is None:
        if settings.REQUIRE_IF_MATCH:
            raise PreconditionRequired()
        return None
    tags = _tags(header)
    if "*" in tags:
        return None
    if etag_for(version) in tags:
        return version
    raise PreconditionFailed()
