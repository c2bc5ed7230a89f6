"""Third-party log lines stay off the console unless ``--verbose``.

MediaPipe, LiteRT, ExecuTorch, glog/absl and coremltools write their INFO lines straight to file descriptor 2 from
native code, and Python libraries add FutureWarnings and progress bars. :func:`third_party_to_log` sends fd 2 to a
log file for the length of a command while the SDK's own stderr (``sys.stderr``) keeps writing to the console,
sets the libraries' own log levels, and filters warnings that do not come from the SDK. The log's path is printed
when the command fails.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from pathlib import Path

# Environment read by native libraries when they start: glog (MediaPipe), TensorFlow/LiteRT, absl.
QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}
NOISY_LOGGERS = ("coremltools", "onnxscript", "onnx_ir", "torch", "torch.onnx", "torch._dynamo", "torch.export",
                 "executorch", "torchao", "absl", "matplotlib", "PIL", "urllib3", "nncf", "openvino", "timm")


# Lines that native libraries print through Python's sys.stderr (ExecuTorch's pybindings, torch's glog-style
# logging handler): glog ("W1201 13:14:52..."), "[file.cpp:71] ...", LiteRT's "INFO: [file.cc:36]", absl's banner.
FOREIGN = re.compile(r"^(?:[IWEF]\d{4} \d{2}:\d{2}:\d{2}|\[[\w./-]+\.(?:cc|cpp|c|h|mm):\d+\]|(?:INFO|WARNING|ERROR): \[\w"
                     r"|WARNING: All log messages before|\s*return cls\.__new__)")


class Console(io.TextIOBase):
    """The SDK's stderr while third-party output goes to the log: whole lines that look like a library's log
    line go to the log too; everything else (the SDK's messages, progress lines that update in place) to the
    console."""

    def __init__(self, console_fd: int, log):
        self._out = os.fdopen(console_fd, "w", buffering=1, encoding="utf-8", errors="replace")
        self._log, self._buf = log, ""

    def isatty(self) -> bool:
        return self._out.isatty()

    def fileno(self) -> int:
        return self._out.fileno()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buf += text
        while True:
            cut = self._buf.find("\n")
            if cut < 0:
                break
            line, self._buf = self._buf[:cut + 1], self._buf[cut + 1:]
            self._emit(line)
        if self._buf.startswith("\r") or "\r" in self._buf:  # an updating progress line: show it now
            self._emit(self._buf)
            self._buf = ""
        return len(text)

    def _emit(self, chunk: str) -> None:
        if FOREIGN.match(chunk.lstrip("\r")):
            self._log.write(chunk.encode("utf-8", "replace"))
        else:
            self._out.write(chunk)
            self._out.flush()

    def flush(self) -> None:  # a partial line waits for its end: libraries flush after every fragment
        if not self._out.closed:
            self._out.flush()

    def close(self) -> None:
        if self._buf and not self._out.closed:
            self._emit(self._buf)
            self._buf = ""
        self.flush()
        self._out.close()


def log_dir() -> Path:
    return Path(os.environ.get("EDGE_SDK_HOME") or Path.home() / ".cache" / "edge_sdk") / "logs"


@contextlib.contextmanager
def third_party_to_log(verb: str, verbose: bool = False, quiet_bars: bool = False):
    """While the block runs, native writes to fd 2 go to ``<log dir>/<verb>.log`` and the SDK's ``sys.stderr``
    goes to the console. Yields the log path (None with ``verbose``). ``quiet_bars``: also turn off tqdm bars
    (libraries' conversion progress; the SDK's own progress does not use tqdm there)."""
    if verbose:
        yield None
        return
    os.environ.setdefault("TORCH_LOGS", "-all")  # torch's own logging handler: errors only
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    if quiet_bars:
        os.environ.setdefault("TQDM_DISABLE", "1")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    path = log_dir() / f"{verb}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = open(path, "ab", buffering=0)
    except OSError:  # no writable cache: keep the console as it is
        yield None
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    saved_err = sys.stderr
    try:  # a sys.stderr that writes to fd 2 must follow the console; one that does not (a capture) stays as it is
        on_fd2 = saved_err.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        on_fd2 = False
    console = Console(os.dup(saved_fd), log) if on_fd2 else saved_err
    os.dup2(log.fileno(), 2)
    sys.stderr = console
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("default", module=r"edge_sdk(\.|$)")
        try:
            yield path
        finally:
            try:
                console.flush()
            finally:
                sys.stderr = saved_err
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                log.close()
                if console is not saved_err:
                    console.close()
