from common.routers import SlashOptionalRouter, slash_optional
from tasks import views
from tasks.export import AccountExportView

router = SlashOptionalRouter()
router.register("tasks", views.TaskViewSet, basename="task")

urlpatterns = [
    slash_optional("users/me/export", AccountExportView.as_view(), name="user-me-export"),
    *router.urls,
]
