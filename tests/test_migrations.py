"""Data migrations: accounts made before sign-up existed keep logging in."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import User

BEFORE = [("accounts", "0004_user_welcome_email_sent_at")]


@pytest.mark.django_db(transaction=True)
def test_accounts_made_before_verification_existed_count_as_verified() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_user_model = executor.loader.project_state(BEFORE).apps.get_model("accounts", "User")
    joined = timezone.now() - timedelta(days=400)
    old_user_model.objects.create(email="old@example.com", password="!", date_joined=joined)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    user = User.objects.get(email="old@example.com")
    assert user.is_verified
    assert user.email_verified_at == joined
    assert user.deletion_requested_at is None
