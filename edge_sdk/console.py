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
