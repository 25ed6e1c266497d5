"""Assertions shared by the HTTP tests: one per shape of answer."""

from typing import Any


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    """The response is the API's JSON error with `status`, a non-empty `detail` and `code`; its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body.get("code"), str), f"error body without a code: {body}"
    assert body["code"]
    return body
