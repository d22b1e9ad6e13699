from __future__ import annotations

import pytest

from tests.resilience import test_fuzz


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many hostile cases ran, even with -q: the count is the fuzz test's result."""
    if test_fuzz.summary:
        terminalreporter.write_line(test_fuzz.summary[-1])
