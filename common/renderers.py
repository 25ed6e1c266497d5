"""JSON rendering with orjson: several times faster than the standard library on list pages."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from django.utils.functional import Promise
from rest_framework.renderers import BaseRenderer


def _default(value: Any) -> Any:
    """Types orjson does not know natively: lazy translations and decimals become strings."""
    if isinstance(value, (Promise, Decimal)):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


class FastJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        # Dates and times are written as DRF writes them: ISO 8601, UTC as "Z".
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)
