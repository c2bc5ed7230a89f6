"""``edge-sdk train`` and ``edge-sdk distill``: teachers and students on the crops ``edge-sdk prepare`` made.

    edge-sdk train --index data/ffpp --model ms_eff_gcvit_b5 --recipe deepguard_b5 --out runs/b5
    torchrun --nproc_per_node 8 -m edge_sdk train --index data/ffpp --model ms_eff_gcvit_b5 --out runs/b5
    edge-sdk distill --index data/ffpp --teacher runs/b5/best.pt --student repvit_m0_9_student --out runs/r09

One loop serves both: AdamW with the recipe's parameter groups (DeepGuard's four learning rates
and weight decays for MS-Eff-GCViT; no decay on norms, biases and position-bias tables), cosine
per group to ``min_lr_ratio`` x base, AMP where CUDA exists, class balance by sampling, early
stopping on validation loss, metrics per epoch (``metrics.csv``, ``metrics.json``, TensorBoard when
installed). Checkpoints are written atomically; ``last.pt`` (every ``ckpt_every`` steps and at each
epoch end) holds model, optimizer, scheduler, epoch, step and RNG states, so ``--resume`` continues
exactly where a killed run stopped; ``best.pt`` holds the weights with the lowest validation loss
and the threshold chosen on validation. Under ``torchrun`` the model is wrapped in
DistributedDataParallel, each rank samples its share, and rank 0 alone logs and writes.
Paired mixup (``mixup``) mixes a real crop with its fake (its own self-blend under ``--pseudo-fakes sbi``,
else a crop of the other class sharing an identity where the index knows one); the label is the mix.

Distillation: loss = (1 - alpha) x BCE(student, label) + alpha x tau^2 x BCE(student / tau, sigmoid(teacher
/ tau)); a RepViT student also trains its distillation head on the teacher's hard decision
(DeiT-style, as RepViT trains). ``teacher_mode="cached"`` computes the teacher's logits once per stored crop
(unaugmented) and caches them on disk under a key of the teacher checkpoint's sha256 and the crop bytes;
samples changed on the fly (self-blends, mixups) are not those crops, so the teacher, kept in memory,
scores them in the batch. ``teacher_mode="online"`` runs the teacher on every training batch as the
student sees it (consistent teaching, Beyer et al. 2022), which feature matching needs: loss +=
``feature_weight`` x (1 - cos(P(student pre-logits), teacher pre-logits)), P a learned linear projection.
A video teacher gives each frame the logit of its clip (cached mode only).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_sdk.errors import InputError
from edge_sdk.fileio import write_atomic

from .config import RECIPES, TrainConfig  # noqa: F401  (the options of train/distill; re-exported)
from .data import (BalancedSampler, ClipDataset, CropDataset, is_clip_model, load_teacher,  # noqa: F401
                   model_norm, read_rows)
from .embedding_cache import EmbeddingCache
from .teacher_cache import FORWARDS, teacher_logits


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


class PreLogits:
    """The input of a model's classifier (its pooled pre-logit features), caught by a forward pre-hook, so it
    works through DistributedDataParallel and for every zoo model (timm's ``get_classifier()`` convention)."""

    def __init__(self, model: nn.Module):
        self.value: torch.Tensor | None = None
        head = model.get_classifier() if hasattr(model, "get_classifier") else None
        if not isinstance(head, nn.Module) or isinstance(head, nn.Identity):
            raise InputError(f"{type(model).__name__}: no classifier module to take pre-logit features from")
        head.register_forward_pre_hook(self._catch)

    def _catch(self, module, args) -> None:
        self.value = args[0].flatten(1)

    @torch.no_grad()
    def dims(self, model: nn.Module, size: int, device) -> int:
        was = model.training
        model.eval()
        out = model(torch.zeros(1, 3, size, size, device=device))
        model.train(was)
        del out
        return int(self.value.shape[1])


class OnlineTeacher:
    """A frame teacher in memory: logits (and pre-logit features) for inputs the logit cache cannot hold. It takes
    the student's normalised batch, re-normalises it with the teacher's mean/std and resizes it to the teacher's
    input size."""

    def __init__(self, path: str, name: str | None, mean, std, device):
        self.model, self.name = load_teacher(path, name)
        self.video = is_clip_model(self.name)
        self.model.to(device).requires_grad_(False)
        self.size = self.model.train_size
        as4 = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, 3, 1, 1)  # noqa: E731
        self.shift = (as4(mean), as4(std), *map(as4, model_norm(self.model)))
        self.features = None if self.video else PreLogits(self.model)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of a batch of frames; of a batch of clips (a clip student), each clip's mean frame logit."""
        ms, ss, mt, st = self.shift
        clips = x.shape[0] if x.ndim == 5 and not self.video else None
        if clips is not None:
            x = x.flatten(0, 1)
        x = (x.float() * ss + ms - mt) / st
        if x.shape[-1] != self.size:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                                          align_corners=False)
        z = self.model(x).reshape(-1).float()
        FORWARDS["online"] = FORWARDS.get("online", 0) + 1
        if clips is not None:
            return z.view(clips, -1).mean(1), None
        return z, (self.features.value.float() if self.features is not None else None)

    def feature_dims(self) -> int:
        return self.features.dims(self.model, self.size, next(self.model.parameters()).device)


# ---------------------------------------------------------------------------------------------- metrics
def metrics(labels: np.ndarray, logits: np.ndarray, threshold: float = 0.5) -> dict:
    """AUC, accuracy at ``threshold`` and log loss of validation logits (scikit-learn, :mod:`edge_sdk.metrics`)."""
    from edge_sdk.metrics import auc, log_loss

    p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    y = np.asarray(labels).astype(np.float64)
    return {"auc": auc(labels, logits), "acc": float(np.mean((p >= threshold) == (y == 1))) if len(y) else None,
            "log_loss": log_loss(y, p)}


def choose_threshold(labels: np.ndarray, logits: np.ndarray) -> float:
    """The probability threshold with the best balanced accuracy on validation (0.5 when one class only)."""
    from edge_sdk.metrics import threshold_balanced

    return threshold_balanced(labels, 1 / (1 + np.exp(-np.asarray(logits, np.float64))))


# ---------------------------------------------------------------------------------------------- the loop
class Trainer:
    def __init__(self, cfg: TrainConfig):
        from edge_sdk.models import create_model, load_checkpoint

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
        self.model = create_model(cfg.model, **cfg.model_kwargs)
        # what checkpoints record: the kwargs that rebuild this model offline (a hub or folder weight source dropped,
        # the structure it gave kept: edge_sdk.models.megatron)
        rebuild = getattr(self.model, "rebuild_kwargs", None)
        self.model_kwargs = rebuild(dict(cfg.model_kwargs)) if rebuild else dict(cfg.model_kwargs)
        if cfg.weights:
            load_checkpoint(self.model, cfg.weights)
        self.video = is_clip_model(cfg.model)
        built = getattr(self.model, "num_frames", cfg.frames)
        if self.video and built != cfg.frames:
            raise InputError(f"--frames {cfg.frames}, but {cfg.model} is built for clips of {built} frames: give the "
                             f"same length to both (model_kwargs num_frames: {cfg.frames})")
        pcfg = self.model.pretrained_cfg
        self.size = cfg.img_size or pcfg["input_size"][-1]
        self.mean, self.std = model_norm(self.model)
        self.model.to(self.device)
        self.student_dist = cfg.teacher is not None and hasattr(self.model, "set_distilled_training")
        if self.student_dist:
            self.model.set_distilled_training(True)
        self.out = Path(cfg.out)
        self.is_main = self.rank == 0
        self.ema = None  # the weights' moving average (--ema), made in run()
        self.embeddings = None  # frozen parts' outputs per crop (distill/embedding_cache.py), where a model has them
        frozen = self.model.frozen_parts() if cfg.embedding_cache and hasattr(self.model, "frozen_parts") else {}
        if frozen:
            self.embeddings = EmbeddingCache(self.out / "embedding_cache", frozen)
            self.model.embedding_cache = self.embeddings
        self.online, self.proj, self.guidance = None, None, None
        if cfg.guidance_weight and not hasattr(self.model, "guidance_loss"):
            raise InputError(f"--guidance-weight: {cfg.model} has no facial-component queries (a clip_fcg model has)")
        if cfg.teacher_mode not in ("cached", "online"):
            raise InputError(f"teacher_mode {cfg.teacher_mode!r}: use cached or online")
        if cfg.teacher and self.video and (cfg.teacher_mode == "online" or cfg.feature_weight):
            raise InputError(f"{cfg.model} is a clip model: it distils from the teacher's logits averaged over each "
                             "clip's crops (teacher_mode cached, feature_weight 0)")
        if cfg.teacher:
            self.online = OnlineTeacher(cfg.teacher, cfg.teacher_model, self.mean, self.std, self.device)
            if self.online.video or not (cfg.score_on_the_fly or cfg.teacher_mode == "online" or cfg.feature_weight):
                if self.online.video and (cfg.teacher_mode == "online" or cfg.feature_weight):
                    raise InputError(f"teacher {cfg.teacher}: a video teacher scores clips, so it distils through "
                                     "the cached clip logits only (teacher_mode cached, feature_weight 0)")
                self.online = None  # a frame changed on the fly (no clip / not asked to score it) keeps its hard label
        if cfg.feature_weight or cfg.contrastive_weight:
            self.student_features = PreLogits(self.model)
        if cfg.feature_weight:
            if self.online is None:
                raise InputError("feature matching (feature_weight > 0) needs a teacher checkpoint")
            dims = self.online.feature_dims(), self.student_features.dims(self.model, self.size, self.device)
            self.proj = nn.Linear(dims[1], dims[0]).to(self.device)

    # data
    def dataset(self, split: str, train: bool):
        rows = read_rows(self.cfg.index, split)
        kw = dict(augment=self.cfg.augment if train else 0.0, cutout=self.cfg.cutout,
                  pseudo_fakes=self.cfg.pseudo_fakes, seed=self.cfg.seed)
        if self.video:
            if self.cfg.pairs:
                raise InputError(f"--pairs: {self.cfg.model} is a video model; pairs are for frame models")
            return ClipDataset(rows, self.size, self.mean, self.std, frames=self.cfg.frames, paired=not train, **kw)
        return CropDataset(rows, self.size, self.mean, self.std, paired=not train,
                           mixup=self.cfg.mixup if train else 0.0, mixup_alpha=self.cfg.mixup_alpha,
                           policy=self.cfg.augment_policy, pairs=self.cfg.pairs and train, **kw)

    def loader(self, ds, sampler=None, shuffle=False):
        return torch.utils.data.DataLoader(ds, batch_size=self.cfg.batch_size, sampler=sampler, shuffle=shuffle,
                                           num_workers=self.cfg.workers, drop_last=sampler is not None)

    # the teacher's logits, once per crop
    def teacher_targets(self, ds_train, ds_val) -> dict[str, float]:
        return teacher_logits(self.cfg, ds_train.rows + ds_val.rows, self.size)

    @torch.no_grad()
    def evaluate(self, ds) -> tuple[float, np.ndarray, np.ndarray]:
        model = self.weights
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

    @property
    def weights(self) -> nn.Module:
        """What is validated and saved as best.pt: the weights' moving average (``--ema``), else the model."""
        return self.ema.module if self.ema is not None else self.module

    def save(self, path: Path, state: dict) -> None:
        if not self.is_main:
            return
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        write_atomic(path, buf.getvalue())

    def save_last(self, path: Path, state: dict) -> None:
        """A mid-epoch ``last.pt`` and, with it, the embedding cache: a resumed run serves the embeddings the killed
        one computed, rather than computing them again in other batches (which can differ in the last bits)."""
        self.save(path, state)
        if self.embeddings is not None and self.is_main:
            self.embeddings.save()

    def state(self, opt, epoch: int, step_in_epoch: int, global_step: int, best: dict, history: list,
              losses: list | None = None) -> dict:
        return {"model": self.module.state_dict(), "model_name": self.cfg.model, "model_kwargs": self.model_kwargs,
                "optimizer": opt.state_dict(),
                "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step, "best": best,
                "epoch_losses": list(losses or []),
                **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
                **({"feature_proj": self.proj.state_dict()} if self.proj is not None else {}),
                "history": history, "config": asdict(self.cfg),
                "rng": {"torch": torch.random.get_rng_state(), "numpy": np.random.get_state()[1].tolist(),
                        "python": list(random.getstate()[1])}}

    def run(self, resume: bool = False, stop_after_steps: int | None = None, progress=None) -> dict:
        """Train; ``stop_after_steps`` ends the run early (as a kill would) after that many steps, for tests.
        ``progress(done_steps, total_steps, message)`` is called after every step and every validation."""
        cfg = self.cfg
        tell = progress if progress is not None and self.is_main else (lambda done, total, message: None)
        last = self.out / "last.pt"
        if resume:  # read (and vet) the saved state before anything else: a refused file stops the run at once
            if not last.is_file():
                raise InputError(f"--resume: {last} does not exist")
            saved = read_state(last)
        ds_train, ds_val = self.dataset("train", True), self.dataset("val", False)
        if len(ds_train) == 0:
            raise InputError(f"index {cfg.index}: the train split is empty")
        steps = cfg.steps_per_epoch or max(1, len(ds_train) // (cfg.batch_size * self.world))
        if cfg.teacher and cfg.teacher_mode == "cached":
            tell(0, steps * cfg.epochs, f"the teacher scores the {len(ds_train.rows) + len(ds_val.rows)} crops once "
                                        "(cached)")
            targets = self.teacher_targets(ds_train, ds_val)
        else:
            targets = None
        framing = index_alignment(cfg.index)  # recorded in best.pt
        if cfg.guidance_weight:
            self.set_face_guidance(ds_train, init_queries=not (resume or cfg.weights), tell=tell)
        pairs = bool(getattr(ds_train, "pairs", False))  # draws are of crops, each giving the crop and its blend
        draws = len(ds_train.rows) if pairs else len(ds_train)
        sampler = BalancedSampler(ds_train.labels() if not cfg.pseudo_fakes else np.zeros(draws, np.int64),
                                  steps * cfg.batch_size, cfg.seed, self.rank, self.world, pairs=pairs)
        self.model.train()
        if self.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                           if self.device.type == "cuda" else None)
        net = self.ddp if self.distributed else self.model
        groups = param_groups(self.module, cfg)
        if self.proj is not None:
            groups.append({"params": list(self.proj.parameters()), "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                           "name": "feature_proj"})
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
        if cfg.ema:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(self.module, decay=cfg.ema, use_warmup=True)  # the decay ramps up from 0
        base = [g["lr"] for g in opt.param_groups]
        total = steps * cfg.epochs
        scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and self.device.type == "cuda")
        start_epoch, skip, global_step, best, history = 0, 0, 0, {"val_loss": float("inf"), "epoch": -1}, []
        resumed_losses: list = []
        resume_rng = None
        if resume:
            st = saved
            self.module.load_state_dict(st["model"])
            if self.proj is not None:
                self.proj.load_state_dict(st["feature_proj"])
            opt.load_state_dict(st["optimizer"])
            if self.ema is not None:
                if "ema" not in st:
                    raise InputError(f"--resume --ema {cfg.ema}: {last} was written without a weight average")
                self.ema.load_state_dict(st["ema"])
            start_epoch, skip, global_step = st["epoch"], st["step_in_epoch"], st["global_step"]
            best, history, resumed_losses = st["best"], st["history"], st.get("epoch_losses", [])
            resume_rng = st["rng"]["torch"]
            if not skip:  # saved at an epoch's end: before the next epoch's loader drew its seed
                torch.random.set_rng_state(resume_rng)
                resume_rng = None
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
            batches = iter(self.loader(ds_train, sampler))  # the loader draws its seed from torch's generator here
            if resume_rng is not None:  # saved mid-epoch, after that draw: the dropout masks go on as they would have
                torch.random.set_rng_state(resume_rng)
                resume_rng = None
            for k, (x, y, idx) in enumerate(batches):
                if epoch == start_epoch and k < skip:
                    continue
                for g, b in zip(opt.param_groups, base):
                    g["lr"] = b * cosine(global_step, total, cfg.warmup_steps, cfg.min_lr_ratio)
                x, y = x.to(self.device), y.to(self.device)
                with torch.autocast(self.device.type, enabled=scaler.is_enabled()):
                    loss, _ = self.loss_fn(net, x, y, idx, ds_train, targets)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if self.proj is not None and self.distributed:  # the projection lives outside DDP's wrapper
                    for q in self.proj.parameters():
                        torch.distributed.all_reduce(q.grad)
                        q.grad /= self.world
                scaler.step(opt)
                scaler.update()
                losses.append(float(loss.detach()))
                global_step += 1
                if self.ema is not None:
                    self.ema.update(self.module, step=global_step)
                done_steps += 1
                tell(global_step, total, f"epoch {epoch + 1}/{cfg.epochs} step {k + 1}/{steps}, loss {losses[-1]:.3f}")
                if cfg.ckpt_every and (k + 1) % cfg.ckpt_every == 0:
                    self.save_last(last, self.state(opt, epoch, k + 1, global_step, best, history, losses))
                if stop_after_steps is not None and done_steps >= stop_after_steps:
                    self.save_last(last, self.state(opt, epoch, k + 1, global_step, best, history, losses))
                    return {"stopped_at_step": global_step}
            val_loss, z, yv = self.evaluate(ds_val)
            m = metrics(yv, z) if len(yv) else {}
            frozen_runs = None
            if self.embeddings is not None:  # crops the frozen parts ran on this epoch (0: all from the cache)
                frozen_runs, self.embeddings.computed = self.embeddings.computed, 0
                if self.is_main:
                    self.embeddings.save()
            tell(global_step, total, f"epoch {epoch + 1}/{cfg.epochs} validated: loss {val_loss:.3f}"
                                     + (f", AUC {m['auc']:.3f}" if m.get("auc") is not None else ""))
            row = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None, "val_loss": val_loss,
                   **{f"val_{k}": v for k, v in m.items()}, "seconds": round(time.perf_counter() - t0, 2),
                   "lr": opt.param_groups[0]["lr"], **({"frozen_crops_computed": frozen_runs}
                                                        if frozen_runs is not None else {})}
            history.append(row)
            if self.is_main:
                _log_epoch(self.out, history, writer)
            if better(cfg.monitor, row, best):
                best = {"val_loss": val_loss, "epoch": epoch, "threshold": choose_threshold(yv, z) if len(yv) else 0.5,
                        **{f"val_{k}": v for k, v in m.items()}}
                bad_epochs = 0
                self.save(self.out / "best.pt", {"model": self.weights.state_dict(), "model_name": cfg.model,
                                                 "model_kwargs": self.model_kwargs,
                                                 "img_size": self.size, "threshold": best["threshold"],
                                                 "crop_align": framing,
                                                 "epoch": epoch, "metrics": best})
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

    def set_face_guidance(self, ds, init_queries: bool, tell) -> None:
        """DFD-FCG's guidance targets: the CLIP part features of up to ``guidance_faces`` real training crops, each
        part located from the crop's detector keypoints (as the index stores them), averaged; the guidance loss
        then pulls each query toward its part. DFD-FCG averages 2,000 real faces' parts the same way, offline."""
        picked = [i for i, r in enumerate(ds.rows) if r["label"] == 0 and r["kp"] is not None and len(r["kp"]) >= 4]
        if not picked:
            raise InputError(f"--guidance-weight: index {self.cfg.index} has no real training crop with face "
                             "keypoints (edge-sdk prepare stores them)")
        step = max(1, len(picked) // self.cfg.guidance_faces)
        picked = picked[::step][:self.cfg.guidance_faces]
        tell(0, 0, f"facial-component guidance: part features of {len(picked)} real crops")
        feats, n = 0.0, 0
        for start in range(0, len(picked), 16):
            loaded = [ds.load(i) for i in picked[start:start + 16]]
            x = torch.stack([ds.to_tensor(rgb) for rgb, _ in loaded]).to(self.device)
            kp = torch.from_numpy(np.stack([k[:4] for _, k in loaded]))
            feats = feats + self.module.part_features(x, kp) * len(loaded)
            n += len(loaded)
        self.module.set_face_features(feats / n, init_queries=init_queries)
        self.guidance = lambda: self.module.guidance_loss(self.cfg.guidance_temperature)

    def teacher_outputs(self, x, y, idx, ds, targets):
        """Per sample: the teacher's logit, whether it has one (else the hard label stands in), and the teacher's
        pre-logit features (online mode / feature matching only)."""
        if self.cfg.teacher_mode == "online" or self.proj is not None:
            t, feats = self.online(x)
            return t, torch.ones_like(y, dtype=torch.bool), feats
        # A frame student's sample is one stored crop; a clip student's is its clip's crops, whose teacher logits
        # are averaged (a frame teacher guiding a temporal model).
        crops = [ds.clips[int(i)] for i in idx] if self.video else [[int(i)] for i in idx]
        t = torch.tensor([float(np.mean([targets[ds.rows[k]["path"]] for k in c])) for c in crops],
                         dtype=torch.float32, device=x.device)
        # The cache holds the teacher's logit of each stored crop; a self-blend or mixup made from it on the fly
        # is not that crop: the teacher in memory scores it, or (video teacher) its hard label stands in.
        stored = torch.tensor([float(ds.rows[c[0]]["label"]) for c in crops], device=x.device) == y
        if self.online is not None and not bool(stored.all()):
            t = t.clone()
            t[~stored] = self.online(x[~stored])[0]
            return t, torch.ones_like(stored), None
        return t, stored, None

    def loss_fn(self, net, x, y, idx, ds, targets):
        """BCE on the label; with a teacher, mixed with the soft-target loss (and RepViT's hard-distillation head),
        plus feature matching when asked. ``net`` is the DDP wrapper under torchrun, so the forward goes through
        it for gradient sync."""
        out = net(x)
        logit, dist_logit = (out[0].reshape(-1), out[1].reshape(-1)) if isinstance(out, tuple) else (out.reshape(-1), None)
        bce = nn.functional.binary_cross_entropy_with_logits
        loss = focal_loss(logit, y, self.cfg.focal_gamma) if self.cfg.loss == "focal" else bce(logit, y)
        if targets is not None or self.online is not None:
            t, known, feats = self.teacher_outputs(x, y, idx, ds, targets)
            soft_target = torch.where(known, torch.sigmoid(t / self.cfg.tau), y)
            soft = bce(logit / self.cfg.tau, soft_target) * self.cfg.tau ** 2
            loss = (1 - self.cfg.alpha) * loss + self.cfg.alpha * soft
            if dist_logit is not None:  # DeiT-style: the second head learns the teacher's hard decision
                loss = 0.5 * loss + 0.5 * bce(dist_logit, torch.where(known, (t > 0).float(), (y >= 0.5).float()))
            if self.proj is not None:
                student = self.proj(self.student_features.value.float())
                loss = loss + self.cfg.feature_weight * (1 - nn.functional.cosine_similarity(student, feats).mean())
        if self.cfg.contrastive_weight:
            loss = loss + self.cfg.contrastive_weight * contrastive_loss(self.student_features.value, y,
                                                                         self.cfg.contrastive_margin)
        if self.guidance is not None:
            loss = loss + self.cfg.guidance_weight * self.guidance()
        return loss, logit


def focal_loss(logit: torch.Tensor, y: torch.Tensor, gamma: float = 4.0, clamp: tuple[float, float] = (-5.0, -0.01)
               ) -> torch.Tensor:
    """DFD-FCG's focal loss on one logit: mean of -(1 - p_t)^gamma log p_t, with log p_t clamped to ``clamp`` as its
    code does (no loss above p_t = 0.99, at most 5 below p_t = 0.007); the weight (1 - p_t)^gamma is not
    differentiated. Soft labels (mixup) mix the two classes' terms by ``y``. The same as the two-class
    ``log_softmax`` form of aiiu-lab/DFD-FCG (src/utility/loss.py) on logits (0, z)."""
    terms = []
    for log_p, w in ((nn.functional.logsigmoid(logit), y), (nn.functional.logsigmoid(-logit), 1 - y)):
        log_p = log_p.clamp(*clamp)
        terms.append(w * -(1 - log_p.detach().exp()) ** gamma * log_p)
    return (terms[0] + terms[1]).mean()


def index_alignment(index: str | Path) -> dict:
    """How the index's crops frame the face (its prepare.json crop spec): {"align": "box"} or {"align": "keypoints",
    "template": ...}. Recorded in best.pt, so the runtime crops as training did. An index without a record: box."""
    root = Path(index) if Path(index).is_dir() else Path(index).parent
    try:
        spec = json.loads((root / "prepare.json").read_text()).get("crop_spec") or {}
    except (OSError, ValueError):
        spec = {}
    return {"align": spec.get("align", "box"), **({"template": spec["template"]} if spec.get("template") else {})}


def contrastive_loss(feats: torch.Tensor, y: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """M2TR's contrastive term (arXiv 2104.09770): real faces' features compact, fakes' at least ``margin`` from
    them. On L2-normalised pre-logit features, with ``c`` the mean of the batch's real features: the mean over real
    samples of ||f - c||^2 plus the mean over fakes of max(0, margin - ||f - c||)^2. A batch without a real sample
    gives 0 (no centre); soft labels (mixup) count as fake above 0.5."""
    f = nn.functional.normalize(feats.float().flatten(1), dim=1)
    real = y < 0.5
    if not bool(real.any()):
        return f.sum() * 0.0
    d = (f - f[real].mean(0)).norm(dim=1)
    loss = (d[real] ** 2).mean()
    if bool((~real).any()):
        loss = loss + (nn.functional.relu(margin - d[~real]) ** 2).mean()
    return loss


def better(monitor: str, row: dict, best: dict) -> bool:
    """Whether an epoch's validation ``row`` beats ``best`` on ``monitor``: val_loss (lower; the default) or val_auc
    (higher; the loss can rise while the ranking improves, as a model grows confident). No best yet: it does."""
    if best.get("epoch", -1) < 0 or not np.isfinite(best.get("val_loss", np.inf)):
        return True
    if monitor == "val_auc":
        new, old = row.get("val_auc"), best.get("val_auc")
        return new is not None and (old is None or new > old)
    return row["val_loss"] < best["val_loss"]


def read_state(path: Path) -> dict:
    """A ``last.pt`` training state, read with ``weights_only=True``: model, optimizer, scheduler, RNG and projection
    state are tensors and plain containers, so a file that would run code on loading is refused, never run."""
    from edge_sdk.errors import CheckpointError
    from edge_sdk.models import read_checkpoint

    st = read_checkpoint(path)
    missing = [k for k in ("model", "optimizer", "epoch", "step_in_epoch", "global_step", "rng") if k not in st]
    if missing:
        raise CheckpointError(f"--resume: {path} is not a training state of edge-sdk train (missing "
                              f"{', '.join(missing)})")
    return st


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


def train(cfg: TrainConfig, resume: bool = False, progress=None) -> dict:
    """Train (or distil, with ``cfg.teacher``); ``progress(done_steps, total_steps, message)`` after every step."""
    return Trainer(cfg).run(resume=resume, progress=progress)


_SCORED: dict[tuple, dict] = {}  # (checkpoint, its mtime, index, split, pseudo-fakes, seed) -> metrics, this process


def checkpoint_metrics(path: str | Path, cfg: TrainConfig, split: str = "val", clips: int | None = None) -> dict:
    """A checkpoint's metrics on ``split`` of ``cfg.index``, at the size it was trained at, with the same pseudo-fakes
    (same seed) as training validated on: teacher, distilled and plain student are scored on the same faces.
    ``clips``: a frame model is scored per clip of that many frames (its mean logit over the clip), on the clips a
    clip model of that length is scored on. A teacher compared with several students is scored once."""
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns, str(cfg.index), split, cfg.pseudo_fakes, cfg.seed,
           clips)
    if key not in _SCORED:
        _SCORED[key] = _checkpoint_metrics(path, cfg, split, clips)
    return dict(_SCORED[key])


@torch.no_grad()
def _checkpoint_metrics(path: str | Path, cfg: TrainConfig, split: str, clips: int | None = None) -> dict:
    model, name = load_teacher(str(path))
    rows, kw = read_rows(cfg.index, split), dict(pseudo_fakes=cfg.pseudo_fakes, seed=cfg.seed, paired=True)
    video = is_clip_model(name)
    if video or clips:  # scored per clip: each clip as it is and self-blended throughout
        ds = ClipDataset(rows, model.train_size, *model_norm(model), frames=model.num_frames if video else clips, **kw)
    else:
        ds = CropDataset(rows, model.train_size, *model_norm(model), **kw)
    loader = torch.utils.data.DataLoader(ds, batch_size=8 if video or clips else 64)
    if video or not clips:
        z = torch.cat([model(x).reshape(-1) for x, _, _ in loader]).numpy()
    else:  # a frame model's clip score: the mean of its frames' logits
        z = torch.cat([model(x.flatten(0, 1)).view(len(x), -1).mean(1) for x, _, _ in loader]).numpy()
    y = ds.labels() if ds.paired else np.asarray([r["label"] for r in ds.rows])
    return {"model": name, "img_size": model.train_size, "params": sum(q.numel() for q in model.parameters()),
            "scored": f"{len(y)} {'clips' if video or clips else 'crops'}", **metrics(y, z)}


def artifact_metrics(path: str | Path, index: str | Path, pseudo_fakes: str | None = None, seed: int = 0,
                     split: str = "val", batch: int = 64) -> dict:
    """An exported artifact's metrics on ``split`` of ``index`` through its runtime backend (the one ``detect`` uses),
    fed as its manifest says (size, normalisation), on the same faces and pseudo-fakes as :func:`checkpoint_metrics`:
    a student and its fp32 and int8 artifacts are compared on one set."""
    from edge_sdk.backends import load as load_backend

    with load_backend(path) as backend:
        crop = backend.crop
        mean, std = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) if crop.normalize_in_model else (crop.mean, crop.std)
        ds = CropDataset(read_rows(index, split), crop.size, mean, std, pseudo_fakes=pseudo_fakes, seed=seed,
                         paired=True)
        z = []
        for i in range(0, len(ds), batch):
            x = np.stack([ds[k][0].numpy() for k in range(i, min(i + batch, len(ds)))])
            z.append(backend.predict(x))
        y = ds.labels() if ds.paired else np.asarray([r["label"] for r in ds.rows])
        return {"artifact": str(path), "target": backend.manifest.get("target_name"), "img_size": crop.size,
                "scored": f"{len(y)} crops", **metrics(y, np.concatenate(z) if z else np.zeros(0))}


def distill_with_baseline(cfg: TrainConfig, resume: bool = False, progress=None) -> dict:
    """Distil ``cfg`` into ``cfg.out``, train the same student on the same data, steps and seed without the teacher
    into ``cfg.out/baseline``, and score teacher, distilled and plain student on the same validation faces
    (``comparison.json``). ``progress(done, total, message)`` counts the steps of both runs."""
    from dataclasses import replace

    if not cfg.teacher:
        raise InputError("a comparison with the plain student needs a teacher checkpoint")

    def tell(role: str, second: bool):  # both runs take the same number of steps
        def report(done: int, n: int, message: str) -> None:
            progress(done + (n if second else 0), 2 * n, f"{role}: {message}")
        return report if progress else None

    t0 = time.perf_counter()
    train(cfg, resume=resume, progress=tell("distilled", False))
    t1 = time.perf_counter()
    plain = replace(cfg, teacher=None, feature_weight=0.0, out=str(Path(cfg.out) / "baseline"))
    train(plain, resume=resume and (Path(plain.out) / "last.pt").is_file(), progress=tell("plain", True))
    t2 = time.perf_counter()
    report = {"index": cfg.index, "split": "val", "pseudo_fakes": cfg.pseudo_fakes,
              "teacher": {"checkpoint": cfg.teacher, **checkpoint_metrics(cfg.teacher, cfg)},
              "distilled": {"checkpoint": str(Path(cfg.out) / "best.pt"), "seconds": round(t1 - t0, 1),
                            **checkpoint_metrics(Path(cfg.out) / "best.pt", cfg)},
              "plain": {"checkpoint": str(Path(plain.out) / "best.pt"), "seconds": round(t2 - t1, 1),
                        **checkpoint_metrics(Path(plain.out) / "best.pt", cfg)},
              "config": {k: v for k, v in asdict(cfg).items() if k in (
                  "epochs", "steps_per_epoch", "batch_size", "lr", "alpha", "tau", "teacher_mode", "feature_weight",
                  "mixup", "augment", "seed")}}
    write_atomic(Path(cfg.out) / "comparison.json", json.dumps(report, indent=2, default=float))
    return report
