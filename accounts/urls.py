from accounts import views
from common.routers import SlashOptionalRouter, slash_optional

router = SlashOptionalRouter()
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [
    slash_optional("auth/login", views.LoginView.as_view(), name="auth-login"),
    slash_optional("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    slash_optional("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    slash_optional("auth/logout-all", views.LogoutAllView.as_view(), name="auth-logout-all"),
    slash_optional("auth/sessions", views.SessionListView.as_view(), name="auth-sessions"),
    slash_optional(r"auth/sessions/(?P<pk>[0-9]+)", views.SessionDetailView.as_view(), name="auth-session-detail"),
    slash_optional("auth/password-reset", views.PasswordResetView.as_view(), name="auth-password-reset"),
    slash_optional(
        "auth/password-reset/confirm", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"
    ),
    slash_optional("auth/signup", views.SignupView.as_view(), name="auth-signup"),
    slash_optional("auth/verify-email", views.EmailVerificationView.as_view(), name="auth-verify-email"),
    slash_optional("auth/verify-email/resend", views.VerificationResendView.as_view(), name="auth-verify-email-resend"),
    slash_optional(
        "auth/email-change/confirm", views.EmailChangeConfirmView.as_view(), name="auth-email-change-confirm"
    ),
    slash_optional("users/me", views.MeView.as_view(), name="user-me"),
    slash_optional("users/me/password", views.MePasswordView.as_view(), name="user-me-password"),
    *router.urls,
]
