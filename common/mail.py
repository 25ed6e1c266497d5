"""The development mailer: mail printed to the console, readable.

Django's console backend prints each message as it would go on the wire, where a long line (a
verification or reset link) is quoted-printable encoded and cannot be copied into a browser. This
one prints the headers that matter and the plain-text body as written.
"""

from typing import Any

from django.core.mail.backends.console import EmailBackend


class ReadableConsoleBackend(EmailBackend):
    def write_message(self, message: Any) -> None:
        self.stream.write(f"Subject: {message.subject}\nFrom: {message.from_email}\nTo: {', '.join(message.to)}\n\n")
        self.stream.write(f"{message.body}\n{'-' * 79}\n")
