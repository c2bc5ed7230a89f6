"""Progress lines on a console: on a terminal a transient line (a step, a percentage) overwrites the one before it
and a lasting line stays; in a file or pipe every line is written whole, so logs keep them all."""

from __future__ import annotations

import shutil


class StatusLines:
    def __init__(self, stream):
        self.stream, self.tty = stream, stream.isatty()

    def write(self, line: str, transient: bool = False) -> None:
        if self.tty and transient:  # cut to the terminal's width: a wrapped line could not be overwritten
            self.stream.write("\r\033[K" + line[:shutil.get_terminal_size().columns - 1])
        else:
            self.stream.write(("\r\033[K" if self.tty else "") + line + "\n")
        self.stream.flush()


class CtrlC:
    """Ctrl-C between steps, not inside one. MediaPipe Tasks (1.2.x) runs each call on a worker thread and waits on
    it; a KeyboardInterrupt raised in that wait unwinds the caller's frame and frees the image the worker is still
    reading, which crashed ``detect`` (SIGSEGV, seen on a fast runner). Inside ``with CtrlC() as stop``, the first
    Ctrl-C only sets ``stop.requested``; the loop ends after the step in progress (:meth:`check` raises
    KeyboardInterrupt there). A second Ctrl-C interrupts at once, as before. Only on the main thread (signals go
    there), and not where SIGINT is ignored; elsewhere it does nothing."""

    def __init__(self, notice=None):
        self.requested, self.notice, self._old = 0, notice, None

    def __enter__(self) -> CtrlC:
        import signal
        import threading

        # a job started with SIGINT ignored (nohup, a background job of a script) stays deaf to it
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        self.requested += 1
        if self.requested > 1:
            raise KeyboardInterrupt
        if self.notice:
            self.notice()

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            import signal

            signal.signal(signal.SIGINT, self._old)
