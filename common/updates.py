"""Partial updates, written once: set the fields a caller sent, and say which ones changed."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models


def model_update(*, instance: models.Model, fields: Iterable[str], data: Mapping[str, Any]) -> list[str]:
    """Set on `instance` each of `fields` that `data` holds with a new value; return their names.

    A field missing from `data` is left as it is; `None` in `data` is a value like any other
    (it clears a nullable field). Nothing is saved: the caller applies its own rules to what
    changed, then saves with `update_fields`.
    """
    changed = []
    for field in fields:
        if field in data and getattr(instance, field) != data[field]:
            setattr(instance, field, data[field])
            changed.append(field)
    return changed
