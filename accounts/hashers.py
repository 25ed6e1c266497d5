"""The password hasher: Django's Argon2id, with its cost taken from settings.

Raising a cost later is safe: each user's hash is upgraded the next time they log in.
"""

from django.conf import settings
from django.contrib.auth import hashers


class Argon2PasswordHasher(hashers.Argon2PasswordHasher):
    """Argon2id with `ARGON2_TIME_COST` passes over `ARGON2_MEMORY_COST_KIB` of memory, `ARGON2_PARALLELISM` lanes."""

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_TIME_COST)

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_MEMORY_COST_KIB)

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_PARALLELISM)
