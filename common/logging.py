"""Log formatting: one JSON object per line in production, readable text in development."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`, the extra fields appended."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (the logging API's name)
        line = super().formatMessage(record)
        fields = " ".join(f"{key}={value}" for key, value in record_fields(record).items())
        return f"{line} {fields}" if fields else line


class OneLineWarning(logging.Filter):
    """Logs a record as a warning without its traceback.

    For events an outsider can cause at will, such as a request with a bad `Host` header: one
    line each is enough, and an error with a traceback per request would flood logs and alerts.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
