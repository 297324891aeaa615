"""gateway.logsafe: control characters in log messages are escaped, whatever logger emits them."""

from __future__ import annotations

import logging

import pytest

from gateway.logsafe import EscapingLogRecord, escape_controls, install


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain text, tab\tand é", "plain text, tab\tand é"),
        ("a\nFORGED", "a\\nFORGED"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2Kx", "\\x1b[2Kx"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
    ],
)
def test_escape_controls(raw: str, escaped: str) -> None:
    assert escape_controls(raw) == escaped


def test_installed_factory_escapes_arguments_of_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    previous = logging.getLogRecordFactory()
    install()
    try:
        assert logging.getLogRecordFactory() is EscapingLogRecord
        with caplog.at_level(logging.WARNING):
            logging.getLogger("some.library").warning("provider said: %s", 'bad\n{"level": "CRITICAL"}')
        assert caplog.messages == ['provider said: bad\\n{"level": "CRITICAL"}']
        formatted = logging.Formatter("%(message)s").format(caplog.records[0])
        assert "\n" not in formatted
    finally:
        logging.setLogRecordFactory(previous)
