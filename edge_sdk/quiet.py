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
import sys
import warnings
from pathlib import Path

# Environment read by native libraries when they start: glog (MediaPipe), TensorFlow/LiteRT, absl.
QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}
NOISY_LOGGERS = ("coremltools", "onnxscript", "onnx_ir", "torch", "torch.onnx", "torch._dynamo", "torch.export",
                 "executorch", "torchao", "absl", "matplotlib", "PIL", "urllib3", "nncf", "openvino", "timm")


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
    console = io.TextIOWrapper(os.fdopen(os.dup(saved_fd), "wb", buffering=0), encoding="utf-8", errors="replace",
                               line_buffering=True, write_through=True) if on_fd2 else saved_err
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
