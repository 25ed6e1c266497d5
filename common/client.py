"""Who is calling: the client's network address, as far as it can be trusted, and its user agent."""

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class Client:
    """What a service may record about the caller (a session's device, a rate limit's identity)."""

    address: str = ""
    user_agent: str = ""

    @property
    def ip_address(self) -> str | None:
        """The address if it is a valid IP address (what a database column may store), else None."""
        try:
            return str(ipaddress.ip_address(self.address))
        except ValueError:
            return None


def client_of(request: HttpRequest) -> Client:
    return Client(address=client_address(request), user_agent=str(request.META.get("HTTP_USER_AGENT", "")))


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


def rate_limit_identity(address: str) -> str:
    """The part of an address a rate limit counts: the address itself, or its /64 for IPv6.

    One IPv6 client is usually given a whole /64 and can pick a new address in it for every
    request, so counting single IPv6 addresses would give it a fresh limit each time.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
