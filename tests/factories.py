from typing import Any

import factory
from django.utils import timezone

from accounts.models import Role, User
from tasks.models import Task

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    role = Role.USER
    email_verified_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        password = kwargs.pop("password", DEFAULT_PASSWORD)
        user = model_class(**kwargs)
        user.set_password(password)
        user.save()
        return user


class AdminFactory(UserFactory):
    role = Role.ADMIN


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    description = factory.Faker("sentence")
    owner = factory.SubFactory(UserFactory)
