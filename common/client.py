"""Who is calling: the client's network address, as far as it can be trusted."""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address the request came from.

    The socket's peer, unless `TRUSTED_PROXY_COUNT` proxies sit in front of the app: each appends
    the address it saw to `X-Forwarded-For`, so the client is the entry that many places from the
    right. Entries further left were written by the client and are ignored, so a forged header
    cannot change the address a rate limit counts.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))
