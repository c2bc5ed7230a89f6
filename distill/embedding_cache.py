"""Frozen parts' outputs computed once per crop and kept on disk, so later epochs run neither network.

A model with frozen feature extractors (Megatron: Depth Anything and the RepViT embedder) gives them by
``frozen_parts()`` and looks its crops up through ``model.embedding_cache``. The cache file is named by a hash of
those parts' weights (and their names, which carry settings such as the depth resolution); inside, each crop is
keyed by the sha1 of its float32 bytes as the model receives it. Changed weights are a different file; a changed
crop (another augmentation draw, another self-blend) is a different key, so only crops that repeat are served: with
``augment 0`` and labelled fakes, every epoch after the first (and every validation after the first) runs neither
network, as the public Megatron's cached RepViT embeddings intend (128 clips x 20 frames x 2 x 384 floats: 7.9 MB).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

from edge_sdk.fileio import write_atomic


def parts_hash(parts: dict[str, torch.nn.Module]) -> str:
    """sha256 over each frozen part's name and every tensor of its state dict, in order."""
    h = hashlib.sha256()
    for name, module in parts.items():
        h.update(name.encode())
        for key, t in module.state_dict().items():
            h.update(key.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """``cache(crops, compute) -> (rgb, depth)``: stored rows for crops seen before, ``compute`` for the others."""

    def __init__(self, folder: str | Path, parts: dict[str, torch.nn.Module]):
        self.key = parts_hash(parts)
        self.path = Path(folder) / f"embeddings-{self.key[:16]}.pt"
        self.store: dict[str, torch.Tensor] = {}
        if self.path.is_file():
            self.store = torch.load(self.path, map_location="cpu", weights_only=True)
        self.computed = 0  # crops run through the frozen parts by this process
        self.served = 0    # crops answered from the cache
        self._dirty = False

    def __len__(self) -> int:
        return len(self.store)

    def __call__(self, crops: torch.Tensor, compute) -> tuple[torch.Tensor, torch.Tensor]:
        flat = crops.detach().to("cpu", torch.float32).contiguous()
        keys = [hashlib.sha1(c.numpy().tobytes()).hexdigest() for c in flat]
        first = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        todo = [k for k in first if k not in self.store]
        if todo:
            with torch.no_grad():
                rgb, depth = compute(crops[[first[k] for k in todo]])
            for k, r, d in zip(todo, rgb.detach().cpu(), depth.detach().cpu()):
                self.store[k] = torch.cat([r, d]).float()
            self.computed += len(todo)
            self._dirty = True
        self.served += len(keys) - len(todo)
        rows = torch.stack([self.store[k] for k in keys]).to(crops.device)
        d = rows.shape[1] // 2
        return rows[:, :d], rows[:, d:]

    def save(self) -> Path | None:
        """Write the store atomically if anything was added (the trainer calls this after each epoch)."""
        if not self._dirty:
            return None
        buf = io.BytesIO()
        torch.save(self.store, buf)
        write_atomic(self.path, buf.getvalue())
        self._dirty = False
        return self.path
