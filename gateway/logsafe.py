"""Log lines cannot be forged: every record's message has its control characters escaped.

Untrusted text reaches log messages through arguments (a provider's error message that echoes the
prompt, a header, a model name). A CR/LF in it would start a line of its own that looks like a
record; an ANSI escape could rewrite the terminal. `install()` replaces the LogRecord factory once,
so every logger and handler (ours, Litestar's, uvicorn's) gets `\\n`, `\\r`, `\\x1b`... instead
(CWE-117). Tracebacks are formatted separately and keep their lines.

It also keeps httpx / httpcore below INFO: httpx logs every request line with the full URL, which
carries userinfo (`https://user:password@relay/...`) and query-string keys when an operator puts
them in a provider's `base_url`.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def escape_controls(text: str) -> str:
    """`a\\nb` for "a<LF>b"; every other C0/C1 control (tab excepted) as `\\xNN` / `\\uNNNN`."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), m.group().encode("unicode_escape").decode()), text)


class EscapingLogRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return escape_controls(super().getMessage())


def install() -> None:
    """Idempotent: make every LogRecord created from now on an EscapingLogRecord."""
    if logging.getLogRecordFactory() is not EscapingLogRecord:
        logging.setLogRecordFactory(EscapingLogRecord)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
