"""Error reporting to Sentry, with no secret in any report.

Sentry's own scrubber removes values under a fixed list of exact key names, so `current_password`,
`new_password` or `refresh_token` would be sent in clear. Here request bodies and local variables
are never sent at all, and every report is scrubbed before it leaves the process: any value under
a key that names a password, token, secret, key, cookie or session, whatever its spelling, and
anything in a text that looks like a JWT.
"""

import re
from typing import Any

import sentry_sdk

FILTERED = "[Filtered]"
_SENSITIVE_KEY = re.compile(r"pass|pwd|token|secret|key|auth|cookie|session|csrf|credential|signature|jwt", re.I)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
# `name=value` pairs in a query string or form-encoded text whose name is sensitive.
_SENSITIVE_PAIR = re.compile(r"([\w.-]*(?:pass|pwd|token|secret|key|auth|session|csrf|signature)[\w.-]*=)[^&\s]*", re.I)


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float, transport: Any = None) -> None:
    """Report errors to `dsn`: no personal data, no request body, no local variables, scrubbed."""
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        # No user identity, cookie, request body, query string, SQL parameter or local variable.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        transport=transport,
    )


def scrub_event(event: Any, hint: Any) -> Any:
    return scrub(event)


def scrub_breadcrumb(breadcrumb: Any, hint: Any) -> Any:
    return scrub(breadcrumb)


def scrub(value: Any, key: str = "") -> Any:
    """`value` with every secret in it replaced by `[Filtered]`, at any depth."""
    if key and _SENSITIVE_KEY.search(key) and value not in (None, "", [], {}):
        return FILTERED
    if isinstance(value, dict):
        return {name: scrub(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        # Headers and cookies may come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _SENSITIVE_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return _SENSITIVE_PAIR.sub(rf"\1{FILTERED}", _JWT.sub(FILTERED, value))
    return value
