from django.db import models


class TaskStatus(models.TextChoices):
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class Priority(models.IntegerChoices):
    """Stored as a number so that ordering by priority means low < medium < high.

    The API speaks the names (`low`, `medium`, `high`), which are the labels here (`Priority.labels`);
    every translation between the two goes through this class.
    """

    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"

    @classmethod
    def from_name(cls, name: str) -> "Priority":
        return _PRIORITY_BY_NAME[name]

    @classmethod
    def name_of(cls, value: int) -> str:
        """The API's name of a stored number."""
        return _NAME_BY_PRIORITY[value]


# Built once: the serializer names every task on a page by these.
_PRIORITY_BY_NAME = {member.label: member for member in Priority}
_NAME_BY_PRIORITY = {member.value: member.label for member in Priority}
