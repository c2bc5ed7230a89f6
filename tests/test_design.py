"""The one design: one installed name, the layering contract, model cards, one target table (a toy target declared
in one place shows up everywhere), options written once (every verb's --help), one helper each, metrics."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

PY = sys.executable


# ---------------------------------------------------------------------------------------------- one installed name
@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package as `pip install .` lays it out (no dependencies), in a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([PY, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                           str(target), str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return target


def test_pip_install_gives_one_import_name(installed):
    (info,) = installed.glob("edge_sdk-*.dist-info")
    tops = [p.name for p in installed.iterdir() if p.name not in ("bin",) and not p.name.endswith(".dist-info")]
    assert tops == ["edge_sdk"], tops  # no export/, distill/ or benchmarks/ beside it to shadow a user's own
    records = (info / "RECORD").read_text().splitlines()
    files = [r.split(",")[0] for r in records if r.endswith((".py", ".json", ".yaml", ".yml")) or ".py," in r]
    assert files and all(f.startswith(("edge_sdk/", "edge_sdk-")) for f in files), [f for f in files if
                                                                                      not f.startswith("edge_sdk")]
    for must in ("edge_sdk/export/exporter.py", "edge_sdk/distill/recipes/deepguard_b5.yaml",
                 "edge_sdk/benchmarks/schemas/bench.schema.json", "edge_sdk/export/tensorrt/checks.py",
                 "edge_sdk/schemas/manifest.schema.json"):
        assert (installed / must).is_file(), must
    # a user's own export.py and benchmarks/ in the working folder shadow nothing of the SDK
    work = installed.parent / "user"
    (work / "benchmarks").mkdir(parents=True, exist_ok=True)
    (work / "export.py").write_text("raise SystemExit('the user module was imported')\n")
    (work / "benchmarks" / "__init__.py").write_text("raise SystemExit('the user package was imported')\n")
    code = ("import edge_sdk.export.config, edge_sdk.benchmarks.config, edge_sdk.distill.config, edge_sdk.targets; "
            "print(edge_sdk.export.config.__file__)")
    done = subprocess.run([PY, "-c", code], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(installed)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(installed))


def test_the_layering_contract_holds(installed):
    """import-linter on the installed layout: the runtime core imports no model, tool, CLI or torch; export, distill
    and explain are independent; benchmarks and the CLI on top; no cycle between siblings (lazy imports count)."""
    lint = Path(PY).with_name("lint-imports")
    done = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=installed, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(installed)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def test_no_module_imports_the_repository_folders_as_top_level_packages():
    bad = []
    for folder in ("edge_sdk", "export", "distill", "benchmarks", "tests"):
        for f in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
                bad += [f"{f.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("export", "distill",
                                                                                           "benchmarks")]
    assert not bad, bad


def test_one_opencv_and_it_is_the_pinned_headless_build():
    from importlib.metadata import PackageNotFoundError, version

    import cv2

    cv2_dists = []
    for dist in ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"):
        try:
            cv2_dists.append((dist, version(dist)))
        except PackageNotFoundError:
            pass
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line.startswith("opencv") and "==" in line)
    assert [d for d, _ in cv2_dists] == ["opencv-python-headless"], cv2_dists
    assert cv2_dists[0][1] == pins["opencv-python-headless"]
    assert cv2.__version__ == ".".join(pins["opencv-python-headless"].split(".")[:3])
    assert "GTK" not in "".join(l for l in cv2.getBuildInformation().splitlines() if "YES" in l)


# ---------------------------------------------------------------------------------------------- model cards
def test_every_zoo_model_has_a_card_read_by_create_explain_and_manifests():
    import edge_sdk.models as zoo

    assert set(zoo.zoo()) >= {"ms_eff_gcvit_b0", "ms_eff_gcvit_b5", "repvit_m0_9_student", "repvit_m1_1_student", "clip_fcg_vit_b16",
                              "clip_fcg_vit_l14"}
    for name in zoo.zoo():
        c = zoo.card(name)
        assert c.licence.code and c.summary and c.kind in ("frame", "clip") and c.size > 0
        sig = c.signature()
        assert sig["shape"] == ([3, c.size, c.size] if c.kind == "frame" else [c.frames, 3, c.size, c.size])
        assert c.to_manifest()["licence"]["weights"].startswith("random")
    assert zoo.card("clip_fcg_vit_b16").kind == "clip" and "research-only" in zoo.card("clip_fcg_vit_b16").licence.code
    assert "MIT" in zoo.card("ms_eff_gcvit_b0").licence.code
    assert "research use only" in zoo.card("ms_eff_gcvit_b0").weights_licence("ffpp")
    model = zoo.create_model("repvit_m0_9_student")
    assert hasattr(model.head, "head_dist")  # the card's defaults: timm's distillation head
    for name in ("ms_eff_gcvit_b0", "repvit_m0_9_student", "m2tr_b0"):  # every explain layer the card names exists
        m = zoo.create_model(name)
        for layer in zoo.card(name).explain.values():
            m.get_submodule(layer.module)


def test_students_have_their_own_timm_names_and_timms_names_stay_timms():
    import timm
    import torch

    import edge_sdk.models as zoo

    student = timm.create_model("repvit_m0_9_student").eval()
    assert student.head.head.l.out_features == 1 and hasattr(student.head, "head_dist")  # one logit, distillation
    assert student(torch.zeros(1, 3, 224, 224)).shape == (1, 1)
    imagenet = timm.create_model("repvit_m0_9")  # timm's own name still means timm's ImageNet model
    assert imagenet.head.head.l.out_features == 1000
    assert set(student.state_dict()) == set(imagenet.state_dict())  # the same network, a new head
    assert zoo.load(student).name == "repvit_m0_9_student"  # a module made by the student's name says so
    assert zoo.card("repvit_m0_9_student").role == "student" and zoo.card("repvit_m0_9").family == "timm"
    assert set(zoo.STUDENTS) <= set(timm.list_models("*_student"))
    # the student's pretrained tags are timm's ImageNet weights (fetched from timm's hub repo, new head)
    assert "repvit_m0_9_student.dist_300e_in1k" in timm.list_pretrained("repvit_m0_9_student*")
    assert zoo.create_model("repvit_m1_1_student").head.head_dist.l.out_features == 1


def test_unknown_model_gets_a_suggestion():
    from edge_sdk.errors import InputError
    from edge_sdk.models import card

    with pytest.raises(InputError, match="did you mean 'repvit_m0_9_student'"):
        card("repvit_m0_9_studnet")


# ---------------------------------------------------------------------------------------------- the target table
TOY = textwrap.dedent('''
    """A toy target declared in one place: an exporter, a backend and a row."""
    from pathlib import Path

    from edge_sdk import targets
    from edge_sdk.backends.onnxruntime import OnnxRuntimeBackend


    def build(prep, path, target, opts, ctx):
        from edge_sdk.export.onnx import copy_atomic, float_onnx

        src, steps, info = float_onnx(prep, opts, ctx)
        copy_atomic(src, Path(path))
        return {"steps": steps, "toy": True}


    class ToyBackend(OnnxRuntimeBackend):
        name = "toy"


    targets.register_backend(targets.BackendRow("toy", "toy_target:ToyBackend", (".toy",), ("onnxruntime",)))
    targets.register(targets.Target("toy", "fp32", ".toy", "toy", "toy_target:build", "TOY RUNTIME fp32"))
''')


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    import edge_sdk.targets as table

    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "toy_target.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(plugin))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("EDGE_SDK_PLUGINS", "toy_target")
    monkeypatch.setattr(table, "_plugins_loaded", False)
    saved_t, saved_b = dict(table.TARGETS), dict(table.BACKENDS)
    yield tmp_path
    table.TARGETS.clear(), table.TARGETS.update(saved_t)
    table.BACKENDS.clear(), table.BACKENDS.update(saved_b)
    sys.modules.pop("toy_target", None)


def test_a_toy_target_declared_once_is_found_by_export_load_bench_and_the_report(toy_plugin, capsys):
    import edge_sdk
    from edge_sdk.cli import main

    out = toy_plugin / "artifacts"
    assert main(["export", "--model", "mobilenetv3_small_050", "--target", "toy", "--out", str(out)]) == 0
    artifact = out / "toy-fp32" / "mobilenetv3_small_050.toy"
    m = json.loads((artifact.parent / "manifest.json").read_text())
    assert m["target_name"] == "toy-fp32" and m["parity"]["status"] == "passed" and m["export"]["toy"] is True
    with edge_sdk.load(artifact) as backend:
        assert backend.name == "toy" and backend.predict(np.zeros((2, 3, 224, 224), np.float32)).shape == (2,)
    assert "toy" in capsys.readouterr().out
    bench_out = toy_plugin / "bench"
    code = main(["bench", "--models", "mobilenetv3_small_050", "--targets", "toy-fp32", "--runs", "2", "--warmup",
                 "1", "--threads", "1", "--out", str(bench_out)])
    assert code == 0  # measured in a fresh process, which reads the same table through $EDGE_SDK_PLUGINS
    (row,) = json.loads((bench_out / "bench.json").read_text())["results"]
    assert row["status"] == "ok" and row["backend"] == "toy" and row["label"] == "TOY RUNTIME fp32"
    assert "| mobilenetv3_small_050 | toy-fp32 | ok |" in (bench_out / "bench.md").read_text()


def test_the_table_answers_for_every_row_and_names_a_typo():
    from edge_sdk import targets
    from edge_sdk.errors import InputError

    rows = targets.table()
    assert "torch" in rows and rows["onnx-int8"].calibration and not rows["onnx-fp32"].calibration
    for t in rows.values():
        assert t.suffix in targets.BACKENDS[t.backend].suffixes and t.label and t.parity
        assert isinstance(t.unavailable() or "", str)
    assert rows["coreml-fp16"].unavailable() and rows["executorch-coreml-fp16"].unavailable()
    assert rows["tensorrt-int8"].unavailable() is None  # its ONNX runs here (parity); its engine does not:
    assert rows["tensorrt-int8"].bench_unavailable()
    with pytest.raises(InputError, match="did you mean 'onnx-int8'"):
        targets.get("onnx-int9")
    assert [t.name for t in targets.select("onnx")] == ["onnx-fp32", "onnx-fp16", "onnx-int8"]


def test_no_module_outside_the_table_and_the_exporters_names_a_precision():
    """`"int8"` and friends appear only in the table, the format exporters and the configs' help text."""
    allowed = {"edge_sdk/targets.py", "export/coreml.py", "export/executorch.py", "export/config.py"}
    found = []
    for folder in ("edge_sdk", "export", "benchmarks", "distill"):
        for f in (ROOT / folder).rglob("*.py"):
            rel = str(f.relative_to(ROOT))
            if rel in allowed:
                continue
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Constant) and node.value in ("int8", "w8a8", "palettized", "fp16"):
                    found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, found


# ---------------------------------------------------------------------------------------------- options written once
def test_every_verb_has_help_with_each_default_shown_once():
    from edge_sdk.cli import VERBS

    for verb in VERBS:
        done = subprocess.run([PY, "-m", "edge_sdk", verb, "--help"], capture_output=True, text=True,
                              env={**os.environ, "COLUMNS": "200"})
        assert done.returncode == 0, (verb, done.stderr[-500:])
        text = done.stdout
        assert f"edge-sdk {verb}" in text
        for line in text.splitlines():
            assert line.count("(default:") <= 1, (verb, line)
            assert "(required)" not in line or "(default:" not in line


def test_option_errors_give_the_allowed_range_and_config_files_fill_defaults(tmp_path, capsys):
    from edge_sdk.cli import main, parse

    for argv, msg in ((["detect", "x.jpg", "--model", "a.onnx", "--threshold", "nan"], "--threshold nan: must be"),
                      (["detect", "x.jpg", "--model", "a.onnx", "--threshold", "5"], "must be >= 0 and <= 1"),
                      (["detect", "x.jpg", "--model", "a.onnx", "--frames", "0"], "--frames 0: must be >= 1"),
                      (["detect", "x.jpg", "--model", "a.onnx", "--every", "-1"], "--every -1: must be >= 1"),
                      (["camera", "--model", "a.onnx", "--smooth", "0"], "--smooth 0.0: must be > 0")):
        assert main(argv) == 2
        assert msg in capsys.readouterr().err
    cfg_file = tmp_path / "bench.yaml"
    cfg_file.write_text("runs: 7\nmodels: [repvit_m0_9_student]\n")
    verb, cfg = parse(["bench", "--config", str(cfg_file), "--warmup", "2"])
    assert verb == "bench" and cfg.runs == 7 and cfg.warmup == 2 and cfg.models == ("repvit_m0_9_student",)
    _, cfg = parse(["train", "--index", "i", "--recipe", "deepguard_b0", "--epochs", "3"])
    assert cfg.epochs == 3 and cfg.group_lr["backbone"] == 5e-4  # the recipe's groups, the command line's epochs
    with pytest.raises(SystemExit):
        parse(["detect", "x.jpg", "--model", "a.onnx", "--framez", "3"])
    assert "--frames" in capsys.readouterr().err  # tyro's "did you mean"


# ---------------------------------------------------------------------------------------------- one helper each
def test_concurrent_writers_of_one_path_never_collide(tmp_path):
    script = textwrap.dedent(f'''
        from edge_sdk.fileio import write_atomic
        for i in range(200):
            write_atomic({str(tmp_path / "shared.json")!r}, '{{"i": %d}}' % i)
    ''')
    procs = [subprocess.Popen([PY, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert json.loads((tmp_path / "shared.json").read_text())["i"] == 199
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_one_list_of_media_suffixes():
    """IMAGE_SUFFIXES / VIDEO_SUFFIXES are defined only in edge_sdk/media.py."""
    defs = []
    for folder in ("edge_sdk", "export", "benchmarks", "distill"):
        for f in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Set, ast.Call)) and any(
                        isinstance(t, ast.Name) and t.id.endswith("_SUFFIXES") for t in node.targets):
                    defs.append(str(f.relative_to(ROOT)))
    assert set(defs) == {"edge_sdk/media.py"}, defs


def test_metrics_come_from_scikit_learn_and_ties_count_half():
    from sklearn.metrics import roc_auc_score

    from edge_sdk import metrics

    y = np.array([0, 0, 1, 1, 0, 1])
    tied = np.zeros(6)
    assert metrics.auc(y, tied) == 0.5 == roc_auc_score(y, tied)
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    assert metrics.auc(y, s) == roc_auc_score(y, s)
    assert metrics.eer(y, np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])) == 0.0
    t = metrics.threshold_at_fpr(y, s, 0.0)
    assert t["fpr"] == 0.0 and t["tpr"] == pytest.approx(2 / 3) and t["threshold"] == pytest.approx(0.8)
    pc = metrics.per_class(y, s, 0.5)
    assert pc["fake"]["recall"] == pytest.approx(2 / 3) and pc["real"]["precision"] == pytest.approx(3 / 4)
    assert metrics.auc([1, 1], [0.2, 0.3]) is None


def test_ties_in_int8_scores_do_not_fake_an_auc_change():
    """Reference logits spread by ~1e-4, the artifact's are all tied, its error is ~1e-4 (as seen on main: delta AUC
    0.089 at 100% agreement): no AUC change is attributable to the artifact; the raw difference is reported."""
    from edge_sdk.export.verify import compare

    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)
    ref = 0.4 + 1e-4 * rng.random(40) + 4e-5 * y  # a random model: nearly constant, slightly ordered
    got = np.full(40, 0.4 + 5e-5)
    r = compare(ref, got, "onnx-int8", labels=y)
    assert r["auc_delta_raw"] > 0.05 and r["auc_delta"] == pytest.approx(0, abs=1e-9) and r["passed"], r
    spread = np.where(y == 1, 2.0, -2.0) + 0.01 * rng.random(40)  # a trained model: ranking survives quantization
    assert compare(spread, spread + 0.05, "onnx-int8", labels=y)["auc_delta"] == 0
    flipped = compare(spread, -spread, "onnx-int8", labels=y)
    assert not flipped["passed"] and flipped["auc_delta"] == 1.0


def test_tensorrt_checks_are_an_explicit_table_covering_every_restriction_kind():
    from edge_sdk.export.tensorrt.checks import CHECKS
    from edge_sdk.export.tensorrt.operators import load_operator_table
    from tests.conftest import shared_path

    table = load_operator_table(shared_path("fixtures", "tensorrt10_onnx_operators.csv"))
    kinds = {r.check for rule in table.values() for r in rule.restrictions if r.check}
    assert kinds and kinds <= set(CHECKS), kinds - set(CHECKS)
    src = (ROOT / "export" / "tensorrt" / "checks.py").read_text()
    assert "globals()" not in src
