"""The environment variables the settings read, found where they are read.

`config/settings.py` reads each variable with a call `env.<reader>("NAME", ...)`, its name written
out. The list is taken from those calls, in every branch, rather than kept beside them by hand: a
variable read is a variable listed, and `.env.example` and docs/configuration.md are tested against
it. Read from the source, without importing the settings (which need a configured environment), so
that the tests and the benchmarks can ask for it anywhere.
"""

import ast
from pathlib import Path

SETTINGS_FILE = Path(__file__).with_name("settings.py")
READER = "env"  # the name of the settings' reader


def settings_variables(settings_file: Path = SETTINGS_FILE) -> dict[str, str]:
    """Each variable the settings read, with the reader's method that reads it ("int", "rate"...),
    in the order of the file."""
    tree = ast.parse(settings_file.read_text(), str(settings_file))
    calls = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Call)), key=lambda c: (c.lineno, c.col_offset)
    )
    variables: dict[str, str] = {}
    for call in calls:
        reader = call.func
        if not (isinstance(reader, ast.Attribute) and isinstance(reader.value, ast.Name) and reader.value.id == READER):
            continue
        name = call.args[0] if call.args else None
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            raise ValueError(
                f"{settings_file}:{call.lineno}: {READER}.{reader.attr}(...) must name its variable "
                "as a string, so that the variable is listed"
            )
        variables.setdefault(name.value, reader.attr)
    return variables


def rate_limit_variables(settings_file: Path = SETTINGS_FILE) -> tuple[str, ...]:
    """The variables of the rate limits, for which an empty value means no limit."""
    return tuple(name for name, reader in settings_variables(settings_file).items() if reader == "rate")
