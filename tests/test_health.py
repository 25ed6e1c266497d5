import pytest
from rest_framework.test import APIClient


@pytest.mark.parametrize("path", ["/health/live", "/health/live/"])
def test_live_answers_without_touching_the_database(api_client: APIClient, path: str) -> None:
    # No database fixture here: any query would fail the test.
    response = api_client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_ready_checks_database_and_cache(api_client: APIClient, path: str) -> None:
    response = api_client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


@pytest.mark.django_db
def test_ready_is_503_naming_the_database_when_it_fails(api_client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr("common.health._database", down)
    response = api_client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable", "cache": "ok"}}


@pytest.mark.django_db
def test_ready_stays_200_naming_a_failing_cache(api_client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API serves without the cache (see test_cache_fallback.py): the instance stays in the balancer."""
    monkeypatch.setattr("django.core.cache.cache.get", lambda *args, **kwargs: None)
    response = api_client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "cache": "unavailable"}}


def test_health_ignores_a_bad_bearer_token(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api_client.get("/health/live").status_code == 200
