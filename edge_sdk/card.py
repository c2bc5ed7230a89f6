"""Model cards: what each zoo model is, declared once beside its ``@register_model`` (like timm's ``default_cfgs``).

A card holds the input signature (a frame ``(N, 3, H, W)`` or a clip ``(N, T, 3, H, W)``, and each stream of a
multi-stream model), the native size and crop-spec defaults, what the output means, the layers ``explain``
reads, the formats known to fail and why, and the licences of the reference code and of each published
weight. Anything that asks "which model is this" reads the card; the licence is copied into every manifest.

Torch-free: the runtime reads cards through manifests (``Card.to_manifest``); the registry of cards lives
with the models (:func:`edge_sdk.models.card`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

OUTPUT_MEANING = "logit; sigmoid gives P(fake)"


@dataclass(frozen=True)
class Stream:
    """One input stream of a model: its name and channels (``rgb`` 3, ``depth`` 1 or 3)."""

    name: str = "rgb"
    channels: int = 3


@dataclass(frozen=True)
class ExplainLayer:
    """A layer ``explain`` can read: a submodule path and how its output becomes an NCHW map."""

    module: str                    # dotted path inside the model
    layout: str = "nchw"           # "nchw", "nhwc" (channels-last token map) or "tokens" (ViT: drop prefix, grid)
    method: str = "gradcam"        # default CAM method for this layer


@dataclass(frozen=True)
class Licence:
    code: str                      # licence of the reference code, with where it comes from
    weights: dict = field(default_factory=dict)  # pretrained tag -> licence of that published weight
    note: str = ""


# Op kinds a card can keep in float in its int8 artifacts, each exporter finding them in its own graph (ONNX nodes,
# the XNNPACK quantizer's annotations, NNCF's ignored scope, ai-edge-quantizer's recipe). Post-training int8 of
# transformers loses accuracy in these three (TensorRT's tracker: "for transformer-based model, PTQ cannot provide
# a good accuracy"), so a ViT's card names them
FLOAT_KINDS = {"layer_norm": "LayerNorm", "softmax": "Softmax", "gelu": "GELU"}


def kept_float_kinds(ops: dict, kind_ops: dict, kinds) -> dict[str, int]:
    """Per kind of ``kinds``, how many of an int8 artifact's float ops (``ops["float"]``, op name -> count) are that
    kind, ``kind_ops`` naming each kind's ops in the exporter's own graph."""
    return {k: sum(ops["float"].get(name, 0) for name in kind_ops[k]) for k in kinds}


@dataclass(frozen=True)
class Card:
    name: str
    family: str
    summary: str
    licence: Licence
    kind: str = "frame"            # "frame": (N, 3, H, W); "clip": (N, T, 3, H, W)
    size: int = 224                # native input side
    frames: int | None = None      # T of a clip model (default; model kwargs may change it)
    stride: int = 1                # frames between the T crops of a clip, at the source rate
    streams: tuple[Stream, ...] = (Stream(),)
    fixed_size: bool = True        # the architecture is built for ``size`` (kwargs may rebuild it)
    role: str = "detector"         # "teacher", "student" or "detector"
    crop: dict = field(default_factory=dict)   # crop-spec defaults beyond size/mean/std (margin, resize, ...)
    output: str = OUTPUT_MEANING
    explain: dict = field(default_factory=dict)  # branch -> ExplainLayer; the first is the default
    export_limits: dict = field(default_factory=dict)  # target name or format -> why it fails
    reference: str = ""            # the public code this is checked against
    defaults: dict = field(default_factory=dict)  # create_model kwargs this zoo entry sets (e.g. a distillation head)
    int8_float: tuple[str, ...] = ()  # op kinds (FLOAT_KINDS) every int8 export of this model keeps in float
    bundle: tuple[str, ...] = ()   # parts exported as separate artifacts, in the order they run (export/bundle.py)
    min_valid: float | None = None  # a clip model that masks frames: the share of T it needs valid to score a clip

    def __post_init__(self):
        unknown = set(self.int8_float) - set(FLOAT_KINDS)
        if unknown:
            raise ValueError(f"card {self.name}: int8_float {sorted(unknown)}: use {', '.join(FLOAT_KINDS)}")

    def signature(self, size: int | None = None, frames: int | None = None) -> dict:
        """The input signature at a (trained) size and clip length: kind, shape without batch, layout, streams."""
        s, t = int(size or self.size), frames or self.frames
        shape = [3, s, s] if self.kind == "frame" else [int(t), 3, s, s]
        return {"kind": self.kind, "shape": shape, "layout": "NCHW" if self.kind == "frame" else "NTCHW",
                "frames": None if self.kind == "frame" else int(t), "stride": None if self.kind == "frame" else self.stride,
                "streams": [asdict(st) for st in self.streams]}

    def weights_licence(self, tag: str | None) -> str:
        if tag and tag in self.licence.weights:
            return self.licence.weights[tag]
        return "random initialisation or your own training (no published weight)" if not tag else "unknown"

    def to_manifest(self, tag: str | None = None) -> dict:
        """What every manifest carries of the card: family, summary, licence of code and weights, output meaning."""
        return {"family": self.family, "summary": self.summary, "role": self.role,
                "licence": {"code": self.licence.code, "weights": self.weights_licence(tag),
                            **({"note": self.licence.note} if self.licence.note else {})},
                "reference": self.reference}

    def export_limit(self, target_name: str) -> str | None:
        """Why this model is known not to export to a target (by full name or by format), or None."""
        if target_name in self.export_limits:
            return self.export_limits[target_name]
        fmt = target_name.rpartition("-")[0]
        return self.export_limits.get(fmt)


__all__ = ["Card", "Stream", "ExplainLayer", "Licence", "OUTPUT_MEANING", "FLOAT_KINDS", "kept_float_kinds"]
