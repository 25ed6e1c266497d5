"""OpenAPI schema generation: every operation documents the errors it can answer with."""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated

from common.problem_types import PROBLEM_CONTENT_TYPE


class MessageSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What happened, for a person to read.")
    code = serializers.CharField(help_text="What happened, for a program to test.")


class ErrorSerializer(serializers.Serializer):
    """An RFC 9457 problem detail, sent as `application/problem+json`."""

    type = serializers.CharField(
        help_text="A URI reference naming the problem type, stable per `code`: `/api/problems/<code>` describes it."
    )
    title = serializers.CharField(help_text="A short summary of the problem type; the same for every `code`.")
    status = serializers.IntegerField(help_text="The HTTP status code of this answer.")
    detail = serializers.CharField(help_text="What went wrong this time, for a person to read.")
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


def _header(name: str, description: str, *, kind: Any = OpenApiTypes.STR, **details: Any) -> OpenApiParameter:
    """A header the operation reads, or (with `response=`) sends."""
    return OpenApiParameter(name, kind, OpenApiParameter.HEADER, description=description, **details)


_ETAG = _header("ETag", 'The version of the resource, a strong entity tag (`"3"`).', response=[200, 304])
# Conditional requests (RFC 9110 section 13) on one resource; see `common.conditional`.
CONDITIONAL_READ = [
    _header("If-None-Match", "ETags the client holds: while one is current the answer is 304 with no body."),
    _ETAG,
]
CONDITIONAL_WRITE = [
    _header(
        "If-Match",
        "The ETag of the version being changed: 412 and nothing written if the resource changed since. "
        "Required (428 without it) when the server sets `REQUIRE_IF_MATCH`.",
    ),
    _ETAG,
]


_RATE_LIMIT_HEADERS = [
    _header(
        "RateLimit-Policy",
        "The limits this request counts against (IETF RateLimit header fields draft): "
        '`"<policy>";q=<requests>;w=<seconds>`, one list member per policy.',
        response=True,
    ),
    _header(
        "RateLimit",
        'What remains of each policy: `"<policy>";r=<remaining>;t=<seconds until the window resets>`.',
        response=True,
    ),
]
_IDEMPOTENCY_HEADERS = [
    _header(
        "Idempotency-Key",
        "Makes the create safe to repeat: a repeat with the same key and body (within "
        "`IDEMPOTENCY_KEY_TTL_HOURS`) gets the first answer again and writes nothing; the same key "
        "with another body is a 422; a repeat while the first is running is a 409.",
        pattern=r"^[\x21-\x7e]{1,255}$",
    ),
    _header(
        "Idempotent-Replayed",
        "`true` when this answer is the one kept for the `Idempotency-Key`, replayed.",
        response=[201],
        enum=["true"],
    ),
]
_RETRY_AFTER = _header("Retry-After", "Seconds to wait before retrying.", kind=OpenApiTypes.INT, response=[429, 503])


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the error answers and the headers our views really give."""

    def get_override_parameters(self) -> list[Any]:
        parameters: list[Any] = list(super().get_override_parameters())
        if self._is_idempotent():
            parameters += _IDEMPOTENCY_HEADERS
        if self.view.get_throttles():
            parameters += _RATE_LIMIT_HEADERS
        if not self.path.startswith("/health"):
            parameters.append(_RETRY_AFTER)
        return parameters

    def _is_idempotent(self) -> bool:
        action = getattr(self.view, "action", None) or self.method.lower()
        return bool(getattr(getattr(self.view, action, None), "idempotent", False))

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
        for code, response in responses.items():
            content = response.get("content", {})
            if code >= "400" and "application/json" in content:
                content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
        return responses

    def _error_responses(self) -> list[tuple[str, type[serializers.Serializer[Any]], str]]:
        view, method = self.view, self.method
        permissions = [type(permission) for permission in view.get_permissions()]
        public = not permissions or all(issubclass(p, AllowAny) for p in permissions)
        errors: list[tuple[str, type[serializers.Serializer[Any]], str]] = []
        has_body = method in _BODY_METHODS and self.get_request_serializer() is not None
        filters = method == "GET" and (
            getattr(view, "filterset_class", None) is not None or getattr(view, "cursor_ordering", None) is not None
        )
        if has_body or filters:
            errors.append(("400", ValidationErrorSerializer, "The input is invalid; each failing field is named."))
        if not public:
            errors.append(("401", ErrorSerializer, "No valid access token was sent."))
        if any(not issubclass(p, (AllowAny, IsAuthenticated)) for p in permissions):
            errors.append(("403", ErrorSerializer, "The caller's role does not allow this."))
        if "{" in self.path or (method == "GET" and self._is_list_view()):
            errors.append(("404", ErrorSerializer, "No such resource, or no such page."))
        if self._is_idempotent():
            errors.append(("409", ErrorSerializer, "A request with this `Idempotency-Key` is still running."))
            errors.append(("422", ErrorSerializer, "This `Idempotency-Key` came with another request body."))
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
