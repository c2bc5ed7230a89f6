"""What training reads: the index's rows, crop and clip datasets (augmentation and pseudo-fakes seeded per sample),
class-balanced sampling, and checkpoints loaded as teachers (through the one loader). Used by ``train``, the
teacher-logit cache and ``eval``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_sdk.errors import InputError
from edge_sdk.preprocess import CropSpec


def read_rows(index: str | Path, split: str) -> list[dict]:
    path = Path(index) / "index.csv" if Path(index).is_dir() else Path(index)
    if not path.is_file():
        raise InputError(f"index {path}: not found (make one with edge-sdk prepare)")
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split]
    root = path.parent
    for r in rows:
        r["path"] = str(root / r["crop"])
        r["label"] = int(r["label"])
        kp = json.loads(r.get("keypoints") or "[]")
        r["kp"] = np.asarray(kp, np.float32) if kp else None
    return rows


SBI_KINDS = ("sbi", "sbi-full")  # pseudo-fake kinds: self-blends (distill.augment.self_blend), full: at full strength


class CropDataset(torch.utils.data.Dataset):
    """Crops of one split as model input; augmentation and pseudo-fakes seeded per (seed, epoch, index)."""

    def __init__(self, rows: list[dict], size: int, mean, std, augment: float = 0.0, cutout: float = 0.5,
                 pseudo_fakes: str | None = None, seed: int = 0, paired: bool = False, mixup: float = 0.0,
                 mixup_alpha: float = 0.4, policy: str = "deepguard", pairs: bool = False):
        """``paired`` (evaluation under pseudo-fakes): every real crop and its self-blend, both, with a fixed seed,
        so validation is balanced and the same every epoch. ``pairs`` (training under pseudo-fakes, SBI's batches):
        item ``2r`` is crop ``r`` and item ``2r + 1`` its self-blend, drawn anew each epoch and both given the same
        augmentation; :class:`BalancedSampler` with ``pairs`` puts the two in one batch."""
        self.rows, self.size, self.augment, self.cutout, self.policy = rows, size, augment, cutout, policy
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.pseudo_fakes, self.seed, self.epoch = pseudo_fakes, seed, 0
        self.paired, self.mixup, self.mixup_alpha = paired and pseudo_fakes is not None, mixup, mixup_alpha
        self.pairs, self.full = pairs and not self.paired, pseudo_fakes == "sbi-full"
        self._partners: dict[int, list[int]] | None = None
        if pseudo_fakes in SBI_KINDS:  # trained from real faces alone: each real crop, or its self-blend
            self.rows = [r for r in rows if r["label"] == 0]
            if not self.rows:
                raise InputError(f"--pseudo-fakes {pseudo_fakes} needs real crops in the split; it has none")
        elif pseudo_fakes is not None:
            raise InputError(f"unknown pseudo-fake kind {pseudo_fakes!r} ({', '.join(SBI_KINDS)})")
        if self.pairs and (pseudo_fakes is None or mixup):
            raise InputError("--pairs needs --pseudo-fakes (a crop and its own self-blend) and no --mixup")

    def __len__(self) -> int:
        return 2 * len(self.rows) if self.paired or self.pairs else len(self.rows)

    def labels(self) -> np.ndarray:
        if self.paired or self.pairs:
            return np.tile([0, 1], len(self.rows)).astype(np.int64)
        if self.pseudo_fakes:  # half of the draws become fakes: balance is by construction
            return np.zeros(len(self.rows), np.int64)
        return np.asarray([r["label"] for r in self.rows])

    def partner(self, i: int, rng: np.random.Generator) -> int | None:
        """A crop of the other class for paired mixup, as DeepGuard pairs them: the same frame index of a video
        sharing an identity with crop ``i`` (a fake and its source) where the index names identities, else any
        crop of the other class."""
        if self._partners is None:
            by_class = {c: [k for k, r in enumerate(self.rows) if r["label"] == c] for c in (0, 1)}
            by_ident: dict[tuple[int, str], list[int]] = {}
            for k, r in enumerate(self.rows):
                for ident in filter(None, str(r.get("identities") or "").split(";")):
                    by_ident.setdefault((r["label"], ident), []).append(k)
            self._partners = {}
            for k, r in enumerate(self.rows):
                other = 1 - r["label"]
                same = sorted({j for ident in filter(None, str(r.get("identities") or "").split(";"))
                               for j in by_ident.get((other, ident), [])})
                frame = [j for j in same if str(self.rows[j].get("frame")) == str(r.get("frame"))]
                self._partners[k] = frame or same or by_class[other]
        options = self._partners[i]
        return int(options[int(rng.integers(len(options)))]) if options else None

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        import cv2

        r = self.rows[i]
        bgr = cv2.imread(r["path"], cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"crop {r['path']} could not be read")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        kp = r["kp"]
        if rgb.shape[0] != self.size or rgb.shape[1] != self.size:
            # to the model size by the runtime's own resize (the crop spec's bilinear, isotropic with pad), so training
            # sees what detect sees; the stored crop already is the face box with its margin
            h, w = rgb.shape[:2]
            spec = CropSpec(size=self.size, margin=0.0)
            if kp is not None:
                kp = spec.map_points(kp, (0, 0, w, h), (w, h)).astype(np.float32)
            rgb = spec.crop(rgb, (0, 0, w, h))
        return rgb, kp

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        x = (rgb.astype(np.float32) / 255 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))

    def __getitem__(self, i: int):
        """(input, label in [0, 1] (a mix is fractional), the row it came from)."""
        from .augment import augment, mixup, self_blend

        if self.paired:
            r = i // 2
            rng = np.random.default_rng([self.seed, 0, r])
            rgb, kp = self.load(r)
            if i % 2:
                rgb = self_blend(rgb, kp, rng, self.full)
            return self.to_tensor(rgb), torch.tensor(float(i % 2)), r
        if self.pairs:  # a fresh blend each epoch; the same augmentation for the crop and its blend
            r = i // 2
            rgb, kp = self.load(r)
            if i % 2:
                rgb = self_blend(rgb, kp, np.random.default_rng([self.seed, self.epoch, r, 1]), self.full)
            if self.augment > 0:
                rgb = augment(rgb, kp, np.random.default_rng([self.seed, self.epoch, r, 2]), self.augment,
                              self.cutout, self.policy)
            return self.to_tensor(rgb), torch.tensor(float(i % 2)), r
        rng = np.random.default_rng([self.seed, self.epoch, i])
        rgb, kp = self.load(i)
        label = float(self.rows[i]["label"])
        if self.mixup and rng.random() < self.mixup:
            if self.pseudo_fakes in SBI_KINDS:  # the pair: a real crop and its own self-blend
                rgb, lam = mixup(rgb, self_blend(rgb, kp, rng, self.full), rng, self.mixup_alpha)
                label = 1.0 - lam
            elif (j := self.partner(i, rng)) is not None:
                rgb, lam = mixup(rgb, self.load(j)[0], rng, self.mixup_alpha)
                label = lam * label + (1 - lam) * self.rows[j]["label"]
        elif self.pseudo_fakes in SBI_KINDS and rng.random() < 0.5:
            rgb, label = self_blend(rgb, kp, rng, self.full), 1.0
        if self.augment > 0:
            rgb = augment(rgb, kp, rng, self.augment, self.cutout, self.policy)
        return self.to_tensor(rgb), torch.tensor(label), i


class ClipDataset(CropDataset):
    """Clips of ``frames`` crops of one video (evenly spaced) for video models; the clip's label is the video's.
    With self-blended pseudo-fakes, a fake clip blends every frame with the same draw (mask, colour, shift),
    as a face swap is consistent over a video; ``paired`` gives every clip as it is and self-blended."""

    def __init__(self, rows, size, mean, std, frames: int = 8, **kw):
        super().__init__(rows, size, mean, std, **kw)
        videos: dict[str, list[int]] = {}
        for k, r in enumerate(self.rows):
            videos.setdefault(r["video_id"], []).append(k)
        self.clips = []
        for ids in videos.values():
            ids = sorted(ids, key=lambda k: int(self.rows[k]["frame"]))
            for start in range(0, max(1, len(ids) - frames + 1), frames):
                pick = [ids[min(len(ids) - 1, start + j)] for j in range(frames)]
                self.clips.append(pick)
        self.frames = frames

    def __len__(self) -> int:
        return 2 * len(self.clips) if self.paired else len(self.clips)

    def labels(self) -> np.ndarray:
        if self.paired:
            return np.tile([0, 1], len(self.clips)).astype(np.int64)
        if self.pseudo_fakes:
            return np.zeros(len(self.clips), np.int64)
        return np.asarray([self.rows[c[0]]["label"] for c in self.clips])

    def __getitem__(self, i: int):
        from .augment import self_blend

        if self.paired:
            c, rng = i // 2, np.random.default_rng([self.seed, 0, i // 2])
            fake = bool(i % 2)
        else:
            c, rng = i, np.random.default_rng([self.seed, self.epoch, i])
            fake = self.pseudo_fakes in SBI_KINDS and rng.random() < 0.5
        loaded = [self.load(k) for k in self.clips[c]]
        frames = [f for f, _ in loaded]
        if fake:  # one draw for the whole clip
            state = rng.bit_generator.state
            frames = [self_blend(f, kp, _replay(state), self.full) for f, kp in loaded]
            rng.random()  # the augmentation draw below differs from the blend's
        if self.augment > 0 and not self.paired:  # one draw for the whole clip, so its frames stay consistent
            state = rng.bit_generator.state
            frames = [_same_aug(f, state, self.augment) for f in frames]
        label = torch.tensor(1.0 if fake else float(self.rows[self.clips[c][0]]["label"]))
        return torch.stack([self.to_tensor(f) for f in frames]), label, c


def _replay(state) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def _same_aug(frame, state, strength):
    from .augment import photometric_geometric

    return photometric_geometric(frame, _replay(state), strength)


class BalancedSampler(torch.utils.data.Sampler):
    """Indices drawn with replacement so both classes are equally likely, the same for a (seed, epoch),
    split across ranks (rank r takes every world-th draw). ``pairs``: ``labels`` are of the crops, and each draw
    ``r`` yields ``2r, 2r + 1`` (a :class:`CropDataset` with ``pairs``: the crop, then its self-blend)."""

    def __init__(self, labels: np.ndarray, num_samples: int, seed: int = 0, rank: int = 0, world: int = 1,
                 pairs: bool = False):
        self.labels, self.num_samples, self.seed, self.rank, self.world = labels, num_samples, seed, rank, world
        self.pairs = pairs
        self.epoch = 0
        counts = np.bincount(labels, minlength=2).astype(np.float64)
        w = np.where(counts[labels] > 0, 1.0 / np.maximum(counts[labels], 1), 0.0)
        self.p = w / w.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        n = (self.num_samples + 1) // 2 if self.pairs else self.num_samples
        draws = rng.choice(len(self.labels), size=n * self.world, replace=True, p=self.p)[self.rank::self.world]
        if self.pairs:
            draws = np.stack([2 * draws, 2 * draws + 1], 1).reshape(-1)[:self.num_samples]
        return iter(draws.tolist())

    def __len__(self) -> int:
        return self.num_samples



def model_norm(model: nn.Module) -> tuple[tuple, tuple]:
    """The (mean, std) a model was made for (its timm pretrained_cfg), ImageNet's when it names none."""
    from edge_sdk.preprocess import IMAGENET_MEAN, IMAGENET_STD

    pcfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(pcfg.get("mean", IMAGENET_MEAN)), tuple(pcfg.get("std", IMAGENET_STD))


def load_teacher(path: str, name: str | None = None) -> tuple[nn.Module, str]:
    """A checkpoint through the one loader (:func:`edge_sdk.models.load`), with ``train_size``: the size it was
    trained at (its ``img_size``, else the model's own) and ``loaded``: the full record (card, crop, threshold)."""
    from edge_sdk.models import load

    loaded = load(str(path), model=name)
    model = loaded.model
    model.train_size, model.loaded = loaded.size, loaded
    return model.eval(), loaded.name


def is_clip_model(name: str) -> bool:
    """Whether the model's card says it takes clips (N, T, 3, H, W)."""
    from edge_sdk.models import card

    return card(name).kind == "clip"
