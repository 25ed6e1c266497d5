from accounts.views.auth import (
    LoginView,
    LogoutAllView,
    LogoutView,
    PasswordResetConfirmView,
    PasswordResetView,
    RefreshView,
    SessionDetailView,
    SessionListView,
)
from accounts.views.signup import EmailChangeConfirmView, EmailVerificationView, SignupView, VerificationResendView
from accounts.views.users import MePasswordView, MeView, UserViewSet

__all__ = [
    "EmailChangeConfirmView",
    "EmailVerificationView",
    "LoginView",
    "LogoutAllView",
    "LogoutView",
    "MePasswordView",
    "MeView",
    "PasswordResetConfirmView",
    "PasswordResetView",
    "RefreshView",
    "SessionDetailView",
    "SessionListView",
    "SignupView",
    "UserViewSet",
    "VerificationResendView",
]
