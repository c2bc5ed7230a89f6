"""edge_sdk: deepfake detectors on phones, Jetsons and CI runners.

The runtime imports only numpy at module level; torch is imported lazily inside
``edge_sdk.models`` and the torch backend.
"""

from .errors import EdgeSDKError

__version__ = "0.1.0"
__all__ = ["EdgeSDKError", "__version__", "load"]


def load(path, **kwargs):
    """Load an exported artifact with its manifest; the backend is chosen from the file type."""
    from .backends import load as _load

    return _load(path, **kwargs)
