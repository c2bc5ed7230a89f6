"""Real face photos that ship inside installed packages: the default calibration and parity faces, and the demo's.

scikit-image ships NASA's portrait of the astronaut Eileen Collins (public domain) and the "cameraman" (CC0);
matplotlib ships a portrait of Grace Hopper (US Navy, public domain). ``--calib packaged`` (the default where a
target needs calibration and no data is given) and the demo read them from here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import InputError

# name -> (package, file inside it, the demo's split, licence)
PACKAGED = {
    "astronaut": ("skimage", "data/astronaut.png", "train", "NASA, public domain"),
    "cameraman": ("skimage", "data/camera.png", "train", "CC0 (Lav Varshney)"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "val", "US Navy, public domain"),
}


def packaged_photos() -> dict[str, Path]:
    """The packaged face photos that are installed here (a missing package is skipped)."""
    found = {}
    for name, (package, rel, _, _) in PACKAGED.items():
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(list(spec.submodule_search_locations)[0]) / rel
        if path.is_file():
            found[name] = path
    return found


def require_packaged() -> dict[str, Path]:
    found = packaged_photos()
    if not found:
        raise InputError("no packaged face photos are installed (they ship in scikit-image and matplotlib: "
                         "pip install 'edge-sdk[demo]'); give --calib DIR with face images or videos")
    return found


def describe() -> str:
    found = packaged_photos()
    return ", ".join(f"{n} ({PACKAGED[n][3]})" for n in found) or "none installed"
