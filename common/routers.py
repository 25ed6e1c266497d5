from django.urls import URLPattern, re_path
from django.views.generic import View
from rest_framework.routers import SimpleRouter


class SlashOptionalRouter(SimpleRouter):
    """Routes that answer with and without the trailing slash, so no client is ever redirected."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


def slash_optional(route: str, view: "type[View] | object", name: str) -> URLPattern:
    """A `path()` for `route` (written without a trailing slash) that also answers with one."""
    return re_path(rf"^{route}/?$", view, name=name)  # type: ignore[arg-type]
