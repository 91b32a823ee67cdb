"""Progress reporting that suits both a terminal and a log file.

On a terminal (stderr is a TTY) this is a tqdm bar. Anywhere else (CI logs, ``nohup``,
``2> file``) a redrawn bar would write thousands of carriage-return lines, so it prints one
plain line every ``interval`` seconds and one at the end instead.
"""

from __future__ import annotations

import sys
import time

#: seconds between lines when stderr is not a terminal
LOG_INTERVAL = 10.0


class _LineProgress:
    """tqdm's small API (``update``, ``set_postfix_str``, ``write``, ``close``) as log lines."""

    def __init__(self, total, desc, unit, file, interval):
        self.total, self.desc, self.unit, self.file = total, desc, unit, file
        self.interval, self.n, self.postfix = interval, 0, ""
        self._start = self._last = time.monotonic()
        self._closed, self._printed = False, -1

    def _line(self) -> str:
        of = f"/{self.total}" if self.total else ""
        post = f" {self.postfix}" if self.postfix else ""
        elapsed = time.monotonic() - self._start
        return f"{self.desc}: {self.n}{of} {self.unit}{post} [{elapsed:.0f}s]"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last, self._printed = now, self.n
            print(self._line(), file=self.file, flush=True)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:  # noqa: ARG002
        self.postfix = s

    def write(self, s: str) -> None:
        print(s, file=self.file, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._printed != self.n:  # the last state, once
                print(self._line(), file=self.file, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(
    total: int | None = None,
    *,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    leave: bool = True,
    file=None,
    interval: float = LOG_INTERVAL,
):
    """A progress reporter: a tqdm bar on a terminal, periodic lines otherwise, nothing when
    ``enabled`` is False. Use as a context manager; call ``update(n)``,
    ``set_postfix_str(s)``.

    >>> import io
    >>> buf = io.StringIO()
    >>> with progress(3, desc="demo", unit="step", file=buf, interval=1e9) as bar:
    ...     bar.update(3)
    >>> buf.getvalue()
    'demo: 3/3 step [0s]\\n'
    """
    file = sys.stderr if file is None else file
    from tqdm import tqdm

    if not enabled:
        return tqdm(total=total, desc=desc, unit=unit, disable=True)
    if getattr(file, "isatty", lambda: False)():
        return tqdm(total=total, desc=desc, unit=unit, leave=leave, file=file)
    return _LineProgress(total, desc, unit, file, interval)
