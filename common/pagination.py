from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from rest_framework import pagination


def public_url(url: str | None) -> str | None:
    """`url` on `PUBLIC_BASE_URL` when it is set, whatever host and port the request named."""
    if url is None or not settings.PUBLIC_BASE_URL:
        return url
    base, parts = urlsplit(settings.PUBLIC_BASE_URL), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment))


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M`: 20 a page by default, never more than 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_next_link(self) -> str | None:
        return public_url(super().get_next_link())

    def get_previous_link(self) -> str | None:
        return public_url(super().get_previous_link())
