"""The OpenAPI schema view: built once per process, not on every request.

Building the schema walks every view and serializer (tens of milliseconds of CPU), and anyone may
ask for it: rebuilt per request it would be a cheap way to keep a worker busy. The code cannot
change while the process runs, so the first answer is kept (per API version and language).
"""

from typing import Any, ClassVar

from django.utils import translation
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response


class CachedSchemaView(SpectacularAPIView):
    _schemas: ClassVar[dict[tuple[Any, str | None], Any]] = {}

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (version, translation.get_language())
        if key not in self._schemas:
            generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
            self._schemas[key] = generator.get_schema(request=request, public=self.serve_public)
        return Response(
            data=self._schemas[key],
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )
