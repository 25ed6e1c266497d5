"""The one assertion that an answer is an API error: an RFC 9457 problem detail."""

from typing import Any

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """`status`, `application/problem+json`, and the members clients read; the body is returned."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert body["type"] == f"/api/problems/{body['code']}"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body.get("code"), str), f"error body without a code: {body}"
    assert body["code"]
    return body
