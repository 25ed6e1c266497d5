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
from accounts.views.users import MePasswordView, MeView, UserViewSet

__all__ = [
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
    "UserViewSet",
]
