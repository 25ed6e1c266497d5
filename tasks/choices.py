from django.db import models


class TaskStatus(models.TextChoices):
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class Priority(models.IntegerChoices):
    """Stored as a number so that ordering by priority means low < medium < high.

    The API speaks the names (`low`, `medium`, `high`), which are the labels here.
    """

    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"

    @classmethod
    def from_name(cls, name: str) -> "Priority":
        return {member.label: member for member in cls}[name]
