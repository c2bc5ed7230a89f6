"""Typed options of ``prepare``, ``train``, ``distill`` and ``eval``, written once; YAML recipes fill them.

:class:`TrainConfig` is what a run records in ``config.json`` and what recipes (``recipes/*.yaml``) set; the CLI is
generated from it (tyro) with the recipe's values as defaults and the command line on top. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, Optional

from edge_sdk.config import check_range, hidden, positional, repeatable
from edge_sdk.errors import InputError

RECIPES = Path(__file__).with_name("recipes")


@dataclass
class TrainConfig:
    """Train a teacher (or any zoo model) on an index made by prepare; torchrun for many GPUs."""

    index: str = ""
    """folder with index.csv (edge-sdk prepare)"""
    model: str = "ms_eff_gcvit_b0"
    """zoo name of the model to train"""
    model_kwargs: hidden(dict) = field(default_factory=dict)
    """kwargs passed to create_model (recipe/Python only; e.g. a smaller CLIP for a trial run)"""
    out: str = "runs/train"
    """checkpoints (last.pt, best.pt), metrics.csv/json, config.json"""
    epochs: int = 10
    """training epochs"""
    batch_size: int = 16
    """crops (or clips) per step"""
    lr: float = 5e-4
    """learning rate of a single-group model (and the head's default)"""
    weight_decay: float = 1e-3
    """AdamW weight decay (norms, biases and position-bias tables get none)"""
    group_lr: hidden(dict) = field(default_factory=dict)
    """per parameter group learning rates (MS-Eff-GCViT: backbone, low_branch, high_branch, head; recipes)"""
    group_wd: hidden(dict) = field(default_factory=dict)
    """per parameter group weight decays (recipes)"""
    min_lr_ratio: float = 1e-3
    """cosine schedule floor, as a fraction of each group's lr"""
    warmup_steps: int = 0
    """linear warm-up steps"""
    patience: int = 3
    """early stopping: epochs without a better validation metric (``monitor``)"""
    monitor: Literal["val_loss", "val_auc"] = "val_loss"
    """the validation metric that picks best.pt and stops early"""
    loss: Literal["bce", "focal"] = "bce"
    """label loss: bce, or focal (DFD-FCG's: (1 - p_t)^gamma x -log p_t, log p_t clamped to [-5, -0.01])"""
    focal_gamma: float = 4.0
    """focal loss exponent (DFD-FCG trains with 4)"""
    img_size: Optional[int] = None
    """input size; None: the model's own (models that take any size)"""
    frames: int = 8
    """clip length of video models"""
    augment: float = 1.0
    """augmentation strength (0: none)"""
    cutout: float = 0.5
    """probability of landmark cutout"""
    augment_policy: Literal["deepguard", "vit_hf"] = "deepguard"
    """geometric/photometric set: deepguard (flip, affine, colour, JPEG, blur) or vit_hf (rotation +/-90, sharpness,
    random resized crop: the HF ViT detectors' fine-tuning, seed 001)"""
    pseudo_fakes: Optional[Literal["sbi", "sbi-full"]] = None
    """sbi: self-blended fakes from the real crops (Shiohara and Yamasaki 2022); sbi-full: every blend at full
    strength (full-weight mask, a 10-30 level colour shift per channel), the demo's task"""
    pairs: bool = False
    """with pseudo-fakes: each batch holds crops and their own self-blends (SBI's batches), not a coin toss each"""
    mixup: float = 0.0
    """probability of DeepGuard's paired mixup (a real with its fake)"""
    mixup_alpha: float = 0.4
    """mixup Beta(alpha, alpha)"""
    ema: float = 0.0
    """exponential moving average of the weights (timm's ModelEmaV3, warm-up on): its decay, e.g. 0.99; the average
    is what is validated and saved as best.pt (0: none)"""
    steps_per_epoch: Optional[int] = None
    """steps per epoch; None: one pass over the training crops"""
    ckpt_every: int = 50
    """write last.pt every this many steps (0: only at epoch ends)"""
    seed: int = 0
    """seed of sampling, augmentation and initialisation"""
    workers: int = 0
    """data-loading processes"""
    amp: bool = True
    """mixed precision where CUDA exists"""
    weights: Optional[str] = None
    """initial weights (fine-tuning)"""
    teacher: Optional[str] = None
    """distillation: teacher checkpoint (best.pt of edge-sdk train)"""
    teacher_model: Optional[str] = None
    """zoo name of the teacher; None: read from its checkpoint"""
    alpha: float = 0.5
    """distillation: weight of the soft-target loss"""
    tau: float = 2.0
    """distillation: temperature"""
    cache_dir: Optional[str] = None
    """teacher-logit cache; None: OUT/teacher_cache"""
    embedding_cache: bool = True
    """a model with frozen feature extractors (megatron_rgbd's depth model and embedder): keep each crop's outputs in
    OUT/embedding_cache, keyed by those parts' weights and the crop's bytes, so a crop seen again runs neither"""
    teacher_mode: Literal["cached", "online"] = "cached"
    """cached: teacher logits of the stored crops, computed once; online: the teacher on every batch"""
    score_on_the_fly: bool = True
    """cached mode: the teacher scores self-blends and mixups in the batch (else their hard label stands in)"""
    feature_weight: float = 0.0
    """feature matching: weight of 1 - cos(projected student pre-logits, teacher's); runs the teacher online"""
    contrastive_weight: float = 0.0
    """M2TR's contrastive term: weight of (real pre-logits compact + fakes a margin away from their centre)"""
    contrastive_margin: float = 0.5
    """contrastive term: the margin, on L2-normalised features (distances 0-2)"""
    guidance_weight: float = 0.0
    """DFD-FCG's facial-component guidance loss: weight (1.5 in its configs; clip_fcg models)"""
    guidance_temperature: float = 30.0
    """guidance loss: temperature on cos(query, part feature) (DFD-FCG: 30)"""
    guidance_faces: int = 256
    """guidance: real training crops (with keypoints) whose CLIP part features are averaged into the targets"""

    def __post_init__(self):
        for opt, v, lo in (("--epochs", self.epochs, 1), ("--batch-size", self.batch_size, 1),
                           ("--frames", self.frames, 1), ("--steps-per-epoch", self.steps_per_epoch, 1),
                           ("--img-size", self.img_size, 8), ("--patience", self.patience, 1),
                           ("--workers", self.workers, 0), ("--ckpt-every", self.ckpt_every, 0)):
            check_range(opt, v, lo)
        check_range("--lr", self.lr, 0, low_open=True, allow_none=False)
        for opt, v in (("--alpha", self.alpha), ("--mixup", self.mixup), ("--cutout", self.cutout)):
            check_range(opt, v, 0, 1, allow_none=False)
        check_range("--tau", self.tau, 0, low_open=True, allow_none=False)
        check_range("--ema", self.ema, 0, 0.9999, allow_none=False)  # 1 would never move from the initial weights
        check_range("--focal-gamma", self.focal_gamma, 0, allow_none=False)
        for opt, v in (("--contrastive-weight", self.contrastive_weight), ("--guidance-weight", self.guidance_weight)):
            check_range(opt, v, 0, allow_none=False)
        check_range("--contrastive-margin", self.contrastive_margin, 0, low_open=True, allow_none=False)
        check_range("--guidance-temperature", self.guidance_temperature, 0, low_open=True, allow_none=False)
        check_range("--guidance-faces", self.guidance_faces, 1)
        if self.loss not in ("bce", "focal"):
            raise InputError(f"--loss {self.loss!r}: use bce or focal")
        if self.monitor not in ("val_loss", "val_auc"):
            raise InputError(f"--monitor {self.monitor!r}: use val_loss or val_auc")

    @classmethod
    def recipe_values(cls, recipe: str | None) -> dict:
        if not recipe:
            return {}
        import yaml

        path = Path(recipe) if Path(recipe).suffix in (".yaml", ".yml") else RECIPES / f"{recipe}.yaml"
        if not path.is_file():
            have = ", ".join(p.stem for p in sorted(RECIPES.glob("*.yaml")))
            raise InputError(f"recipe {recipe!r}: no such file; built-in recipes: {have}")
        data = yaml.safe_load(path.read_text()) or {}
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"recipe {recipe}: unknown keys {', '.join(sorted(unknown))}")
        return data

    @classmethod
    def from_recipe(cls, recipe: str | None, **overrides) -> "TrainConfig":
        data = cls.recipe_values(recipe)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


@dataclass
class TrainArgs(TrainConfig):
    """Train a teacher (or any zoo model) on an index made by prepare; torchrun for many GPUs."""

    recipe: str = "deepguard_b5"
    """built-in recipe (deepguard_b0, deepguard_b5, student, ...) or a YAML file; its values are the defaults"""
    resume: bool = False
    """continue from OUT/last.pt exactly"""

    def __post_init__(self):
        super().__post_init__()
        if not self.index:
            raise InputError("--index: give the folder with index.csv (made by edge-sdk prepare)")


@dataclass
class DistillArgs(TrainArgs):
    """Train a student from a teacher checkpoint (soft targets; RepViT's distillation head)."""

    recipe: str = "student"
    """built-in recipe or a YAML file; its values are the defaults"""
    student: Optional[str] = None
    """the student's zoo name (ms_eff_gcvit_b0, repvit_m0_9_student, repvit_m1_1_student, ...); the same as --model"""
    baseline: bool = False
    """also train the same student without the teacher (same data, steps, seed) into OUT/baseline and write
    OUT/comparison.json with teacher, distilled and plain AUC"""

    def __post_init__(self):
        super().__post_init__()
        if self.student:
            self.model = self.student
        if not self.teacher:
            raise InputError("--teacher: give the teacher checkpoint (best.pt of edge-sdk train)")


@dataclass
class PrepareConfig:
    """Face crops and an index from FF++, Celeb-DF, KoDF, real/fake trees or a CSV."""

    root: positional(str)
    """dataset folder (layout detected) or a CSV with path,label[,split,identity,method]"""
    out: str = ""
    """crops/, videos/ (one record per video), index.csv, prepare.json"""
    layout: Literal["auto", "ffpp", "celebdf", "kodf", "generic", "csv"] = "auto"
    """dataset layout"""
    frames: int = 20
    """frames per video (uniform with seeded jitter)"""
    size: int = 384
    """crop size in pixels (train at any size up to it)"""
    margin: Optional[float] = None
    """margin around the face box per side; None: the crop spec's 0.2"""
    align: Literal["box", "keypoints"] = "box"
    """box: the detector's box with the margin; keypoints: landmark-aligned (a similarity of the eyes, nose tip and
    mouth onto DFD-FCG's mean face; DFD-FCG crops 150 px)"""
    split_dir: Optional[str] = None
    """FaceForensics++ official split folder (train/val/test.json)"""
    compression: Optional[str] = None
    """FaceForensics++ compression to take (raw, c23, c40)"""
    val: float = 0.1
    """share of identity groups for validation"""
    test: float = 0.1
    """share of identity groups for test"""
    seed: int = 0
    """split seed"""
    shard: Optional[str] = None
    """I/N: process only every N-th video from the I-th"""
    workers: int = 1
    """processes"""
    retry_failed: bool = False
    """process videos whose earlier attempt failed"""
    force: bool = False
    """redo the videos of an earlier run made with another crop spec or frame plan (instead of refusing)"""
    index_only: bool = False
    """only rebuild index.csv and prepare.json"""
    face_model: Optional[str] = None
    """BlazeFace .tflite; None: the cache or $EDGE_SDK_FACE_MODEL"""
    quiet: bool = False
    """no progress display"""
    verbose: bool = False
    """show third-party libraries' log lines"""

    def __post_init__(self):
        if not self.out:
            raise InputError("--out: give the folder for crops and the index")
        check_range("--frames", self.frames, 1, allow_none=False)
        check_range("--size", self.size, 8, 4096, allow_none=False)
        check_range("--margin", self.margin, 0, 5)
        check_range("--val", self.val, 0, 1, allow_none=False)
        check_range("--test", self.test, 0, 1, allow_none=False)
        check_range("--workers", self.workers, 1, allow_none=False)
        if self.val + self.test >= 1:
            raise InputError(f"--val {self.val} + --test {self.test} leave no identities for training")


@dataclass
class EvalConfig:
    """Frame/video AUC, accuracy, EER, AP, log loss, F1 per class and ROC of a checkpoint on one or more indexes."""

    model: str
    """checkpoint (best.pt of edge-sdk train / distill)"""
    index: repeatable(tuple[str, ...]) = ()
    """index folder; repeat for cross-dataset (the first is in-domain)"""
    arch: Optional[str] = None
    """zoo name when the checkpoint does not record it"""
    split: str = "test"
    """split to evaluate"""
    threshold: Optional[float] = None
    """decision threshold in [0, 1]; None: the checkpoint's (chosen on validation)"""
    choose_threshold: bool = False
    """pick the threshold on the first index's val split"""
    img_size: Optional[int] = None
    """input size; None: the size the checkpoint was trained at"""
    out: str = "runs/eval"
    """eval.json, roc_<index>.png, threshold.json"""

    def __post_init__(self):
        if not self.index:
            raise InputError("--index: give at least one index folder (made by edge-sdk prepare)")
        check_range("--threshold", self.threshold, 0, 1)
        check_range("--img-size", self.img_size, 8)


__all__ = ["TrainConfig", "TrainArgs", "DistillArgs", "PrepareConfig", "EvalConfig", "RECIPES"]
