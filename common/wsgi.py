"""What the WSGI entry point wraps around Django's application."""

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ChunkedBodyMiddleware:
    """Gives Django a chunked request body (`Transfer-Encoding: chunked`, no `Content-Length`).

    Django reads only `CONTENT_LENGTH` bytes of `wsgi.input`, so without the header it reads
    nothing: a PATCH answered 200 and changed nothing. gunicorn decodes the chunks; this reads
    them, at most one byte over `DATA_UPLOAD_MAX_MEMORY_SIZE`, and declares the length read, so
    the body is parsed as any other and one over the limit gets the usual 413.
    """

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = _read(environ["wsgi.input"], None if limit is None else limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)


def _read(stream: Any, most: int | None) -> bytes:
    """Up to `most` bytes of `stream` (all of it for None), however the server hands them out."""
    parts: list[bytes] = []
    size = 0
    while most is None or size < most:
        part = stream.read(65536 if most is None else min(65536, most - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
