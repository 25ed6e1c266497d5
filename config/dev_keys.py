"""Signing keys for development (`DEBUG` on, no keys set): random, made once, kept beside manage.py.

No key is written in the code, so no server anywhere signs with a key the public knows; the file
keeps them across restarts of `make run`, so tokens stay valid. It is ignored by git and docker.
"""

import json
import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

NAMES = ("SECRET_KEY", "JWT_SECRET_KEY")


def development_keys(path: Path) -> dict[str, str]:
    """The keys kept in `path`, made there first if it does not exist yet."""
    if path.exists():
        return _read(path)
    keys = {name: secrets.token_urlsafe(50) for name in NAMES}
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.")
        with os.fdopen(descriptor, "w") as file:
            json.dump(keys, file)
        try:
            # Atomic, and refused if another process (runserver starts two) made the file first.
            os.link(temporary, path)
        except FileExistsError:
            return _read(path)
        finally:
            os.unlink(temporary)
    except OSError as error:
        raise ImproperlyConfigured(
            f"Cannot keep development keys in {path} ({error}): set SECRET_KEY and JWT_SECRET_KEY."
        ) from error
    return keys


def _read(path: Path) -> dict[str, str]:
    try:
        keys = json.loads(path.read_text())
        return {name: str(keys[name]) for name in NAMES}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ImproperlyConfigured(
            f"{path} is not a valid development key file: delete it to make new keys."
        ) from error
