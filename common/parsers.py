"""JSON parsing with orjson, which also refuses text a database cannot store (lone surrogates)."""

from collections.abc import Mapping
from typing import IO, Any

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from common.exceptions import PayloadTooLarge


class StrictJSONParser(BaseParser):
    """Parses a JSON body of at most `DATA_UPLOAD_MAX_MEMORY_SIZE` bytes.

    DRF reads JSON from the request stream, around Django's own size check, so the limit is
    enforced here too.
    """

    media_type = "application/json"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise PayloadTooLarge()
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from exc
