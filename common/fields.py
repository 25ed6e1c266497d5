"""Serializer fields that refuse values of the wrong JSON type instead of coercing them.

DRF's own fields turn `123` into `"123"` and `1` into `True`. An API client that sends a number for
a text field has a bug; it gets a 400 naming the field, as the OpenAPI schema promises.
"""

from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false`: JSON booleans, or those two words from a form-encoded body."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, str) and data.lower() in {"true", "false"}:
            data = data.lower() == "true"
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
