"""One exception hierarchy for the whole SDK.

Every message says which input was wrong, what was wrong with it, and what to do.
"""

from __future__ import annotations


class EdgeSDKError(Exception):
    """Root of every error edge_sdk raises on purpose."""


class CheckpointError(EdgeSDKError):
    """A checkpoint or state dict does not fit the model it is loaded into."""


class PretrainedWeightsError(EdgeSDKError):
    """Pretrained weights were asked for but could not be obtained."""


class MissingDependencyError(EdgeSDKError):
    """An optional package needed for this call is not installed."""

    def __init__(self, package: str, purpose: str, extra: str | None = None):
        hint = f"pip install 'edge-sdk[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs the '{package}' package, which is not installed: run {hint}")
        self.package = package


class InputError(EdgeSDKError):
    """A user-supplied input (file, tensor, option) is unusable."""
