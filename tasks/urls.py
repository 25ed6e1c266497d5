from common.routers import SlashOptionalRouter
from tasks import views

router = SlashOptionalRouter()
router.register("tasks", views.TaskViewSet, basename="task")

urlpatterns = router.urls
