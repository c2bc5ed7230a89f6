"""``edge-sdk train`` and ``edge-sdk distill``: teachers and students on the crops ``edge-sdk prepare`` made.

    edge-sdk train --index data/ffpp --model ms_eff_gcvit_b5 --recipe deepguard_b5 --out runs/b5
    torchrun --nproc_per_node 8 -m edge_sdk train --index data/ffpp --model ms_eff_gcvit_b5 --out runs/b5
    edge-sdk distill --index data/ffpp --teacher runs/b5/best.pt --student repvit_m0_9 --out runs/r09

One loop serves both: AdamW with the recipe's parameter groups (DeepGuard's four learning rates
and weight decays for MS-Eff-GCViT; no decay on norms, biases and position-bias tables), cosine
per group to ``min_lr_ratio`` x base, AMP where CUDA exists, class balance by sampling, early
stopping on validation loss, metrics per epoch (``metrics.csv``, ``metrics.json``, TensorBoard when
installed). Checkpoints are written atomically; ``last.pt`` (every ``ckpt_every`` steps and at each
epoch end) holds model, optimizer, scheduler, epoch, step and RNG states, so ``--resume`` continues
exactly where a killed run stopped; ``best.pt`` holds the weights with the lowest validation loss
and the threshold chosen on validation. Under ``torchrun`` the model is wrapped in
DistributedDataParallel, each rank samples its share, and rank 0 alone logs and writes.

Distillation: loss = (1 - alpha) x BCE(student, label) + alpha x tau^2 x BCE(student / tau, sigmoid(teacher
/ tau)); a RepViT student also trains its distillation head on the teacher's hard decision
(DeiT-style, as RepViT trains). Teacher logits are computed once per crop (unaugmented) and cached
on disk under a key of the teacher checkpoint's sha256, the crop size and the index; a video teacher
gives each frame the logit of its clip.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_sdk.errors import InputError
from edge_sdk.fileio import write_atomic

RECIPES = Path(__file__).with_name("recipes")


# ---------------------------------------------------------------------------------------------- config
@dataclass
class TrainConfig:
    model: str = "ms_eff_gcvit_b0"
    index: str = ""
    out: str = "runs/train"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 5e-4                     # one group (models without param_groups), and the head's default
    weight_decay: float = 1e-3
    group_lr: dict = field(default_factory=dict)     # name -> lr (MS-Eff-GCViT: backbone, low_branch, ...)
    group_wd: dict = field(default_factory=dict)
    min_lr_ratio: float = 1e-3
    warmup_steps: int = 0
    patience: int = 3
    img_size: int | None = None          # default: the model's input size
    frames: int = 8                      # clip length for video models
    augment: float = 1.0                 # augmentation strength (0 = none)
    cutout: float = 0.5
    pseudo_fakes: str | None = None      # "sbi": self-blended fakes from the real crops
    steps_per_epoch: int | None = None   # default: one pass over the training crops
    ckpt_every: int = 50
    seed: int = 0
    workers: int = 0
    amp: bool = True                     # used only where CUDA exists
    weights: str | None = None           # initial weights (fine-tuning)
    # distillation
    teacher: str | None = None
    teacher_model: str | None = None     # zoo name of the teacher checkpoint (default: read from it)
    alpha: float = 0.5
    tau: float = 2.0
    cache_dir: str | None = None

    @classmethod
    def from_recipe(cls, recipe: str | None, **overrides) -> "TrainConfig":
        data = {}
        if recipe:
            import yaml

            path = Path(recipe) if Path(recipe).suffix in (".yaml", ".yml") else RECIPES / f"{recipe}.yaml"
            if not path.is_file():
                have = ", ".join(p.stem for p in sorted(RECIPES.glob("*.yaml")))
                raise InputError(f"recipe {recipe!r}: no such file; built-in recipes: {have}")
            data = yaml.safe_load(path.read_text()) or {}
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InputError(f"recipe {recipe}: unknown keys {', '.join(sorted(unknown))}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


# ---------------------------------------------------------------------------------------------- data
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


class CropDataset(torch.utils.data.Dataset):
    """Crops of one split as model input; augmentation and pseudo-fakes seeded per (seed, epoch, index)."""

    def __init__(self, rows: list[dict], size: int, mean, std, augment: float = 0.0, cutout: float = 0.5,
                 pseudo_fakes: str | None = None, seed: int = 0):
        self.rows, self.size, self.augment, self.cutout = rows, size, augment, cutout
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.pseudo_fakes, self.seed, self.epoch = pseudo_fakes, seed, 0
        if pseudo_fakes == "sbi":  # trained from real faces alone: each real crop, or its self-blend
            self.rows = [r for r in rows if r["label"] == 0]
            if not self.rows:
                raise InputError("--pseudo-fakes sbi needs real crops in the split; it has none")
        elif pseudo_fakes is not None:
            raise InputError(f"unknown pseudo-fake kind {pseudo_fakes!r} (sbi)")

    def __len__(self) -> int:
        return len(self.rows)

    def labels(self) -> np.ndarray:
        if self.pseudo_fakes:  # half of the draws become fakes: balance is by construction
            return np.zeros(len(self.rows), np.int64)
        return np.asarray([r["label"] for r in self.rows])

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        import cv2

        r = self.rows[i]
        bgr = cv2.imread(r["path"], cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"crop {r['path']} could not be read")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        kp = r["kp"]
        if rgb.shape[0] != self.size:
            if kp is not None:
                kp = kp * (self.size / rgb.shape[0])
            rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return rgb, kp

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        x = (rgb.astype(np.float32) / 255 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))

    def __getitem__(self, i: int):
        from .augment import augment, self_blend

        rng = np.random.default_rng([self.seed, self.epoch, i])
        rgb, kp = self.load(i)
        label = self.rows[i]["label"]
        if self.pseudo_fakes == "sbi" and rng.random() < 0.5:
            rgb, label = self_blend(rgb, kp, rng), 1
        if self.augment > 0:
            rgb = augment(rgb, kp, rng, self.augment, self.cutout)
        return self.to_tensor(rgb), torch.tensor(float(label)), i


class ClipDataset(CropDataset):
    """Clips of ``frames`` crops of one video (evenly spaced) for video models; the clip's label is the video's."""

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
        return len(self.clips)

    def labels(self) -> np.ndarray:
        return np.asarray([self.rows[c[0]]["label"] for c in self.clips])

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        frames = [self.load(k)[0] for k in self.clips[i]]
        if self.augment > 0:  # one draw for the whole clip, so its frames stay consistent
            state = rng.bit_generator.state
            frames = [_same_aug(f, state, self.augment) for f in frames]
        label = torch.tensor(float(self.rows[self.clips[i][0]]["label"]))
        return torch.stack([self.to_tensor(f) for f in frames]), label, i


def _same_aug(frame, state, strength):
    from .augment import photometric_geometric

    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return photometric_geometric(frame, rng, strength)


class BalancedSampler(torch.utils.data.Sampler):
    """Indices drawn with replacement so both classes are equally likely, the same for a (seed, epoch),
    split across ranks (rank r takes every world-th draw)."""

    def __init__(self, labels: np.ndarray, num_samples: int, seed: int = 0, rank: int = 0, world: int = 1):
        self.labels, self.num_samples, self.seed, self.rank, self.world = labels, num_samples, seed, rank, world
        self.epoch = 0
        counts = np.bincount(labels, minlength=2).astype(np.float64)
        w = np.where(counts[labels] > 0, 1.0 / np.maximum(counts[labels], 1), 0.0)
        self.p = w / w.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        draws = rng.choice(len(self.labels), size=self.num_samples * self.world, replace=True, p=self.p)
        return iter(draws[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return self.num_samples


# ---------------------------------------------------------------------------------------------- model
NO_DECAY = ("bias", "norm", "bn", "relative_position_bias_table", "pos_embed", "cls_token")


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: the model's own groups (MS-Eff-GCViT) with the recipe's lr/wd, each split into decay and
    no-decay parameters (norms, biases, position-bias tables); other models: one group."""
    named = dict(model.named_parameters())
    by_id = {id(p): n for n, p in named.items()}
    if hasattr(model, "param_groups") and cfg.group_lr:
        groups = {k: [p for p in v if p.requires_grad] for k, v in model.param_groups().items()}
    else:
        groups = {"all": [p for p in model.parameters() if p.requires_grad]}
    out = []
    for name, params in groups.items():
        lr = cfg.group_lr.get(name, cfg.lr)
        wd = cfg.group_wd.get(name, cfg.weight_decay)
        decay = [p for p in params if not (p.ndim <= 1 or any(k in by_id[id(p)].lower() for k in NO_DECAY))]
        keep = [p for p in params if all(p is not q for q in decay)]
        out += [{"params": decay, "lr": lr, "weight_decay": wd, "name": name},
                {"params": keep, "lr": lr, "weight_decay": 0.0, "name": f"{name}/no_decay"}]
    return [g for g in out if g["params"]]


def cosine(step: int, total: int, warmup: int, floor: float) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def load_teacher(path: str, name: str | None = None) -> tuple[nn.Module, str]:
    from edge_sdk.models import create_model, load_checkpoint

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    name = name or (ckpt.get("model_name") if isinstance(ckpt, dict) else None)
    if not name:
        raise InputError(f"teacher {path}: the checkpoint does not name its model; give --teacher-model")
    model = create_model(name)
    load_checkpoint(model, ckpt["model"] if "model" in ckpt else ckpt)
    return model.eval(), name


# ---------------------------------------------------------------------------------------------- metrics
def metrics(labels: np.ndarray, logits: np.ndarray, threshold: float = 0.5) -> dict:
    from edge_sdk.metrics import auc

    p = 1 / (1 + np.exp(-logits))
    eps = 1e-7
    y = labels.astype(np.float64)
    return {"auc": auc(labels, logits) if len(set(labels.tolist())) == 2 else None,
            "acc": float(np.mean((p >= threshold) == (y == 1))) if len(y) else None,
            "log_loss": float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) if len(y) else None}


def choose_threshold(labels: np.ndarray, logits: np.ndarray) -> float:
    """The probability threshold with the best balanced accuracy on validation (0.5 when one class only)."""
    if len(set(labels.tolist())) < 2:
        return 0.5
    p = 1 / (1 + np.exp(-logits))
    best, thr = -1.0, 0.5
    for t in np.unique(np.round(p, 4)):
        bal = 0.5 * (np.mean(p[labels == 1] >= t) + np.mean(p[labels == 0] < t))
        if bal > best:
            best, thr = bal, float(t)
    return thr


# ---------------------------------------------------------------------------------------------- the loop
class Trainer:
    def __init__(self, cfg: TrainConfig):
        from edge_sdk.models import VIDEO_MODELS, create_model, load_checkpoint

        self.cfg = cfg
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        self.distributed = self.world > 1
        if self.distributed and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        self.device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.model = create_model(cfg.model)
        if cfg.weights:
            load_checkpoint(self.model, cfg.weights)
        self.video = cfg.model.split(".")[0] in VIDEO_MODELS
        pcfg = self.model.pretrained_cfg
        self.size = cfg.img_size or pcfg["input_size"][-1]
        self.mean, self.std = pcfg.get("mean", (0.485, 0.456, 0.406)), pcfg.get("std", (0.229, 0.224, 0.225))
        self.model.to(self.device)
        self.student_dist = cfg.teacher is not None and hasattr(self.model, "set_distilled_training")
        if self.student_dist:
            self.model.set_distilled_training(True)
        self.out = Path(cfg.out)
        self.is_main = self.rank == 0

    # data
    def dataset(self, split: str, train: bool):
        rows = read_rows(self.cfg.index, split)
        kw = dict(augment=self.cfg.augment if train else 0.0, cutout=self.cfg.cutout,
                  pseudo_fakes=self.cfg.pseudo_fakes, seed=self.cfg.seed)
        if self.video:
            return ClipDataset(rows, self.size, self.mean, self.std, frames=self.cfg.frames, **kw)
        return CropDataset(rows, self.size, self.mean, self.std, **kw)

    def loader(self, ds, sampler=None, shuffle=False):
        return torch.utils.data.DataLoader(ds, batch_size=self.cfg.batch_size, sampler=sampler, shuffle=shuffle,
                                           num_workers=self.cfg.workers, drop_last=sampler is not None)

    # the teacher's logits, once per crop
    def teacher_targets(self, ds_train, ds_val) -> dict[str, float]:
        from .teacher_cache import teacher_logits

        return teacher_logits(self.cfg, ds_train.rows + ds_val.rows, self.size)

    @torch.no_grad()
    def evaluate(self, ds) -> tuple[float, np.ndarray, np.ndarray]:
        model = self.module
        was_training = model.training
        model.eval()
        if self.student_dist:
            model.set_distilled_training(False)
        logits, labels = [], []
        for x, y, _ in self.loader(ds):
            logits.append(model(x.to(self.device)).reshape(-1).float().cpu())
            labels.append(y)
        if self.student_dist:
            model.set_distilled_training(True)
        model.train(was_training)
        if not logits:
            return float("nan"), np.zeros(0), np.zeros(0)
        z, y = torch.cat(logits), torch.cat(labels)
        loss = float(nn.functional.binary_cross_entropy_with_logits(z, y))
        return loss, z.numpy(), y.numpy().astype(np.int64)

    @property
    def module(self) -> nn.Module:
        return self.ddp.module if self.distributed else self.model

    def save(self, path: Path, state: dict) -> None:
        if not self.is_main:
            return
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        write_atomic(path, buf.getvalue())

    def state(self, opt, epoch: int, step_in_epoch: int, global_step: int, best: dict, history: list,
              losses: list | None = None) -> dict:
        return {"model": self.module.state_dict(), "model_name": self.cfg.model, "optimizer": opt.state_dict(),
                "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step, "best": best,
                "epoch_losses": list(losses or []),
                "history": history, "config": asdict(self.cfg),
                "rng": {"torch": torch.random.get_rng_state(), "numpy": np.random.get_state()[1].tolist(),
                        "python": list(random.getstate()[1])}}

    def run(self, resume: bool = False, stop_after_steps: int | None = None) -> dict:
        """Train; ``stop_after_steps`` ends the run early (as a kill would) after that many steps, for tests."""
        cfg = self.cfg
        ds_train, ds_val = self.dataset("train", True), self.dataset("val", False)
        if len(ds_train) == 0:
            raise InputError(f"index {cfg.index}: the train split is empty")
        targets = self.teacher_targets(ds_train, ds_val) if cfg.teacher else None
        if targets is not None and self.video:
            raise InputError("distillation into a video student is not supported; distil into a frame model")
        steps = cfg.steps_per_epoch or max(1, len(ds_train) // (cfg.batch_size * self.world))
        sampler = BalancedSampler(ds_train.labels() if not cfg.pseudo_fakes else np.zeros(len(ds_train), np.int64),
                                  steps * cfg.batch_size, cfg.seed, self.rank, self.world)
        self.model.train()
        if self.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                           if self.device.type == "cuda" else None)
        net = self.ddp if self.distributed else self.model
        groups = param_groups(self.module, cfg)
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
        base = [g["lr"] for g in opt.param_groups]
        total = steps * cfg.epochs
        scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and self.device.type == "cuda")
        start_epoch, skip, global_step, best, history = 0, 0, 0, {"val_loss": float("inf"), "epoch": -1}, []
        resumed_losses: list = []
        last = self.out / "last.pt"
        if resume:
            if not last.is_file():
                raise InputError(f"--resume: {last} does not exist")
            st = torch.load(last, map_location="cpu", weights_only=False)
            self.module.load_state_dict(st["model"])
            opt.load_state_dict(st["optimizer"])
            start_epoch, skip, global_step = st["epoch"], st["step_in_epoch"], st["global_step"]
            best, history, resumed_losses = st["best"], st["history"], st.get("epoch_losses", [])
            torch.random.set_rng_state(st["rng"]["torch"])
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_atomic(self.out / "config.json", json.dumps(asdict(cfg), indent=2))
        writer = _tensorboard(self.out) if self.is_main else None
        bad_epochs = sum(1 for h in history[best["epoch"] + 1:]) if history else 0
        done_steps = 0
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            ds_train.epoch = epoch
            t0, losses = time.perf_counter(), (list(resumed_losses) if epoch == start_epoch else [])
            for k, (x, y, idx) in enumerate(self.loader(ds_train, sampler)):
                if epoch == start_epoch and k < skip:
                    continue
                for g, b in zip(opt.param_groups, base):
                    g["lr"] = b * cosine(global_step, total, cfg.warmup_steps, cfg.min_lr_ratio)
                x, y = x.to(self.device), y.to(self.device)
                with torch.autocast(self.device.type, enabled=scaler.is_enabled()):
                    loss, _ = self.loss_fn(net, x, y, idx, ds_train, targets)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                losses.append(float(loss.detach()))
                global_step += 1
                done_steps += 1
                if cfg.ckpt_every and (k + 1) % cfg.ckpt_every == 0:
                    self.save(last, self.state(opt, epoch, k + 1, global_step, best, history, losses))
                if stop_after_steps is not None and done_steps >= stop_after_steps:
                    self.save(last, self.state(opt, epoch, k + 1, global_step, best, history, losses))
                    return {"stopped_at_step": global_step}
            val_loss, z, yv = self.evaluate(ds_val)
            m = metrics(yv, z) if len(yv) else {}
            row = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None, "val_loss": val_loss,
                   **{f"val_{k}": v for k, v in m.items()}, "seconds": round(time.perf_counter() - t0, 2),
                   "lr": opt.param_groups[0]["lr"]}
            history.append(row)
            if self.is_main:
                _log_epoch(self.out, history, writer)
            if val_loss < best["val_loss"] or not np.isfinite(best["val_loss"]):
                best = {"val_loss": val_loss, "epoch": epoch, "threshold": choose_threshold(yv, z) if len(yv) else 0.5,
                        **{f"val_{k}": v for k, v in m.items()}}
                bad_epochs = 0
                self.save(self.out / "best.pt", {"model": self.module.state_dict(), "model_name": cfg.model,
                                                 "threshold": best["threshold"], "epoch": epoch, "metrics": best})
            else:
                bad_epochs += 1
            self.save(last, self.state(opt, epoch + 1, 0, global_step, best, history))
            if bad_epochs >= cfg.patience:
                break
        if self.distributed:
            torch.distributed.barrier()
        result = {"best": best, "history": history, "out": str(self.out)}
        if self.is_main:
            write_atomic(self.out / "result.json", json.dumps(result, indent=2, default=float))
        return result

    def loss_fn(self, net, x, y, idx, ds, targets):
        """BCE on the label; with a teacher, mixed with the soft-target loss (and RepViT's hard-distillation head).
        ``net`` is the DDP wrapper under torchrun, so the forward goes through it for gradient sync."""
        out = net(x)
        logit, dist_logit = (out[0].reshape(-1), out[1].reshape(-1)) if isinstance(out, tuple) else (out.reshape(-1), None)
        bce = nn.functional.binary_cross_entropy_with_logits
        loss = bce(logit, y)
        if targets is not None:
            t = torch.tensor([targets[ds.rows[int(i)]["path"]] for i in idx], dtype=torch.float32, device=x.device)
            # The cache holds the teacher's logit of each stored crop; a pseudo-fake made from it on the fly
            # (label changed to fake) is not that crop, so it keeps its hard label as the target instead.
            stored = torch.tensor([float(ds.rows[int(i)]["label"]) for i in idx], device=x.device) == y
            soft_target = torch.where(stored, torch.sigmoid(t / self.cfg.tau), y)
            soft = bce(logit / self.cfg.tau, soft_target) * self.cfg.tau ** 2
            loss = (1 - self.cfg.alpha) * loss + self.cfg.alpha * soft
            if dist_logit is not None:  # DeiT-style: the second head learns the teacher's hard decision
                loss = 0.5 * loss + 0.5 * bce(dist_logit, torch.where(stored, (t > 0).float(), y))
        return loss, logit


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tb"))


def _log_epoch(out: Path, history: list[dict], writer) -> None:
    keys = list(dict.fromkeys(k for h in history for k in h))
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(history)
    write_atomic(out / "metrics.csv", buf.getvalue())
    write_atomic(out / "metrics.json", json.dumps(history, indent=2, default=float))
    if writer is not None:
        for k, v in history[-1].items():
            if isinstance(v, (int, float)) and v is not None and k != "epoch":
                writer.add_scalar(k, v, history[-1]["epoch"])
        writer.flush()


def train(cfg: TrainConfig, resume: bool = False) -> dict:
    return Trainer(cfg).run(resume=resume)
