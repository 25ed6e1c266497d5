"""OpenAPI schema generation: every operation documents the errors it can answer with."""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(help_text="What went wrong, for a program to test.")


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: `errors` names each failing field; a body that is not valid JSON has no `errors`."""

    # Named like `Serializer.errors`; harmless, as this serializer only describes the schema.
    errors = serializers.DictField(  # type: ignore[assignment]
        required=False,
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages for each field that failed (`non_field_errors` for the body as a whole).",
    )


_BODY_METHODS = {"POST", "PUT", "PATCH"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the error answers our views and handlers really give."""

    def _get_request_body(self, direction: Any = "request") -> Any:
        """drf-spectacular documents bodies of POST, PUT and PATCH only; a view whose DELETE
        reads one (a password, say) sets `delete_takes_body`."""
        if self.method == "DELETE" and getattr(self.view, "delete_takes_body", False):
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code, serializer, description in self._error_responses():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
                responses[code]["description"] = description
        return responses

    def _error_responses(self) -> list[tuple[str, type[serializers.Serializer[Any]], str]]:
        view, method = self.view, self.method
        permissions = [type(permission) for permission in view.get_permissions()]
        public = not permissions or all(issubclass(p, AllowAny) for p in permissions)
        errors: list[tuple[str, type[serializers.Serializer[Any]], str]] = []
        has_body = method in _BODY_METHODS and self.get_request_serializer() is not None
        filters = method == "GET" and getattr(view, "filterset_class", None) is not None
        if has_body or filters:
            errors.append(("400", ValidationErrorSerializer, "The input is invalid; each failing field is named."))
        if not public:
            errors.append(("401", ErrorSerializer, "No valid access token was sent."))
        if any(not issubclass(p, (AllowAny, IsAuthenticated)) for p in permissions):
            errors.append(("403", ErrorSerializer, "The caller's role does not allow this."))
        if "{" in self.path or (method == "GET" and self._is_list_view()):
            errors.append(("404", ErrorSerializer, "No such resource, or no such page."))
        if has_body:
            errors.append(("413", ErrorSerializer, "The request body is too large."))
            errors.append(("415", ErrorSerializer, "The request body's content type is not accepted."))
        if view.get_throttles():
            errors.append(("429", ErrorSerializer, "Too many requests; retry after `Retry-After` seconds."))
        if not self.path.startswith("/health"):
            errors.append(("503", ErrorSerializer, "The database is unreachable; retry after `Retry-After` seconds."))
        return errors


def drop_empty_security(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Public operations get no `security` at all rather than `[{}]`.

    The two mean the same here (the schema declares no global requirement), but client generators
    read `[{}]` as "needs credentials" and would demand an authenticated client to log in.
    """
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and operation.get("security") == [{}]:
                del operation["security"]
    return result
