"""Export failures as one error naming the target and the operator, not a stack dump."""

from __future__ import annotations

import re

from edge_sdk.errors import EdgeSDKError

_OP_PATTERNS = (
    r"(aten[.:]{1,2}[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)",  # aten::svd, aten.linalg_svd.default
    r"for op '([^']+)'",  # coremltools: convert function for op 'xyz' not implemented
    r"[Oo]perator ['\"]?([A-Za-z0-9_:.]+)['\"]? (?:is )?not supported",
    r"Unsupported (?:ONNX )?(?:op|operator)[: ]+['\"]?([A-Za-z0-9_:.]+)",
)


class ExportError(EdgeSDKError):
    def __init__(self, target: str, model: str, message: str, op: str | None = None):
        where = f" at operator {op}" if op else ""
        super().__init__(f"export of {model} to {target} failed{where}: {message}")
        self.target, self.model, self.op = target, model, op


def failing_op(err: BaseException) -> str | None:
    """The operator an exporter complained about, read from the exception chain's messages."""
    seen = err
    while seen is not None:
        text = str(seen)
        for pattern in _OP_PATTERNS:
            m = re.search(pattern, text)
            if m:
                return m.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


def wrap(target: str, model: str, err: BaseException) -> ExportError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
    return ExportError(target, model, f"{type(err).__name__}: {first}", failing_op(err))
