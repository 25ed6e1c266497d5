"""The OpenAPI schema view: built and rendered once per process, not on every request.

Building the schema walks every view and serializer, and rendering it as YAML takes about as
long again (tens of milliseconds of CPU each); anyone may ask for it, so per request it would be
a cheap way to keep a worker busy. The code cannot change while the process runs, so the first
answer is kept, per API version, language and format.
"""

from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponse, HttpResponseBase
from django.utils import translation
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

_Key = tuple[Any, str | None, str]


class CachedSchemaView(SpectacularAPIView):
    _answers: ClassVar[dict[_Key, tuple[bytes, str, str]]] = {}

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        answer = self._answers.get(self._key(request))
        if answer is None:
            return super().get(request, *args, **kwargs)
        content, content_type, disposition = answer
        return HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code == 200:
            response.render()
            self._answers[self._key(request)] = (
                response.content,
                response["Content-Type"],
                response["Content-Disposition"],
            )
        return response

    def _key(self, request: Request) -> _Key:
        version = self.api_version or request.version or self._get_version_parameter(request)
        language = (settings.USE_I18N and request.GET.get("lang")) or translation.get_language()
        return version, language, request.accepted_renderer.format
