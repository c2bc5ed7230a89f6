"""A bundle: several artifacts that are one clip model (Megatron: depth -> embedder -> temporal head).

The bundle folder holds one artifact per part, each with its own manifest (sha256-checked when loaded, through the
backend its suffix needs); the bundle manifest beside the folder says how they connect (``bundle``). ``predict``
takes clips (N, T, 3, H, W) like any clip model; :meth:`BundleBackend.predict_masked` also takes which frames are
valid (a face was found), and frames that are not change nothing: their embedding slots hold zeros and the head
masks them out of every attention and of the average over time.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import InputError
from ..manifest import ManifestError
from . import backend_class, load
from .base import Backend


class BundleBackend(Backend):
    name = "bundle"
    masks = True  # predict_masked: frames without a face are masked, not invented

    def __init__(self, path, manifest, threads: int | None = None, providers: list[str] | None = None):
        super().__init__(path, manifest)
        b = manifest.get("bundle")
        if not b or not self.path.is_dir():
            raise ManifestError(f"{self.path}: not a bundle (a folder with a bundle manifest beside it)")
        self.frames, self.stride, self.min_valid = int(b["frames"]), int(b["stride"]), int(b["min_valid"])
        self.parts: dict[str, Backend] = {}
        try:
            for part in b["parts"]:
                art = self.path / part["path"]
                cls_kwargs = {}
                accepted = inspect.signature(backend_class(art).__init__).parameters
                if threads and "threads" in accepted:
                    cls_kwargs["threads"] = threads
                if providers and "providers" in accepted:
                    cls_kwargs["providers"] = providers
                self.parts[part["name"]] = load(art, **cls_kwargs)
        except Exception:
            self.close()
            raise
        missing = {"depth", "embedder", "head"} - set(self.parts)
        if missing:
            self.close()
            raise ManifestError(f"{self.path}: the bundle lacks the parts {sorted(missing)}")
        self.dim = int(b["connect"]["embedding_dim"])

    @property
    def device(self) -> str:
        return ",".join(dict.fromkeys(p.device for p in self.parts.values()))

    def stages(self, clips: np.ndarray, valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every intermediate of the chain: depth maps, RGB and depth embeddings, the packed head input, logits."""
        x = np.ascontiguousarray(clips, np.float32)
        if x.ndim != 5 or x.shape[1] != self.frames or list(x.shape[2:]) != [int(s) for s in self.input_shape[2:]]:
            raise InputError(f"{self.path.name} takes clips (N, {', '.join(map(str, self.input_shape[1:]))}), got "
                             f"{tuple(x.shape)}")
        n, T = x.shape[:2]
        v = np.ones((n, T), np.float32) if valid is None else np.asarray(valid, np.float32).reshape(n, T)
        if ((v.sum(1)) < 1).any():
            raise InputError(f"{self.path.name}: a clip with no valid frame cannot be scored")
        frames = x.reshape(n * T, *x.shape[2:])
        keep = np.flatnonzero(v.reshape(-1) > 0)  # only frames with a face run the depth model and the embedder
        depth, emb = self._embed(frames[keep])
        both = np.zeros((n * T, 2 * self.dim), np.float32)
        both[keep] = emb
        packed = self.pack(both.reshape(n, T, -1), v)
        return {"depth": depth, "rgb": both[:, :self.dim], "depth_embedding": both[:, self.dim:], "packed": packed,
                "logits": self.parts["head"].predict(packed)}

    def _embed(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        depth = self.parts["depth"].outputs(crops)
        emb = self.parts["embedder"].outputs(np.concatenate([crops, depth]))
        return depth, np.concatenate([emb[:len(crops)], emb[len(crops):]], axis=1)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """The per-frame half of the chain: crops (N, 3, S, S) -> (N, 2 * D), RGB then depth embedding. A live
        source embeds each new crop once and keeps the last T per face track (:meth:`head` scores them)."""
        return self._embed(np.ascontiguousarray(crops, np.float32))[1]

    def pack(self, embeddings: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The head's input (N, T, 2 * D + 1): embeddings (N, T, 2 * D) (an invalid frame's slot holds zeros) and
        validity (N, T)."""
        v = np.asarray(valid, np.float32)
        return np.concatenate([np.asarray(embeddings, np.float32) * v[..., None], v[..., None]], axis=-1)

    def head(self, embeddings: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Logits (N,) of the temporal head over T frames' embeddings (N, T, 2 * D), ``valid`` (N, T) masking the
        frames without a face."""
        v = np.asarray(valid, np.float32)
        if (v.sum(1) < 1).any():
            raise InputError(f"{self.path.name}: a clip with no valid frame cannot be scored")
        return self.parts["head"].predict(self.pack(embeddings, v))

    def predict_masked(self, clips: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
        """Logits (N,) of clips whose frames ``valid`` (N, T) marks 1 (a face) or 0 (none: masked)."""
        if len(clips) == 0:
            return np.zeros((0,), np.float32)
        return self.stages(clips, valid)["logits"]

    def outputs(self, batch: np.ndarray) -> np.ndarray:
        return self.predict_masked(batch, None)[:, None]

    def close(self) -> None:
        for p in getattr(self, "parts", {}).values():
            p.close()
