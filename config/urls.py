"""The root URLconf: the API under /api/v1/, its docs, health checks and the admin site."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from common import health
from common.docs import CachedSchemaView
from common.metrics import metrics_view
from common.routers import slash_optional
from common.views import api_not_found, problem_type

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("tasks.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    slash_optional("api/schema", CachedSchemaView.as_view(), name="schema"),
    slash_optional(
        "api/docs",
        SpectacularSwaggerView.as_view(url_name="schema", template_name="docs/swagger_ui.html"),
        name="swagger-ui",
    ),
    slash_optional(
        "api/redoc", SpectacularRedocView.as_view(url_name="schema", template_name="docs/redoc.html"), name="redoc"
    ),
    # What each error's problem `type` means (see common.exceptions).
    path("api/problems/<slug:code>", problem_type, name="problem-type"),
    # Anything else under /api/ is a JSON 404, whatever DEBUG says.
    re_path(r"^api/", api_not_found),
    slash_optional("health/live", health.LiveView.as_view(), name="health-live"),
    slash_optional("health/ready", health.ReadyView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]

handler400 = "common.views.bad_request"
handler403 = "common.views.permission_denied"
handler404 = "common.views.page_not_found"
handler500 = "common.views.server_error"
