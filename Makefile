# Two commands for a newcomer: `make demo` (the main job) and `make test`.
# Each creates .venv if missing and installs the pinned set; both are safe to run twice.
PYTHON ?= python3
comma  := ,
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edge-sdk-installed

.PHONY: bench-m2tr bench-megatron bench-speed demo zoo docs test install assets bench bench-vit bench-ci clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# litert-torch (the litert-* exports) downgrades typing-extensions to 4.12 for xdsl's metadata; tyro needs >= 4.13
# and the conversion runs with this one (tests/test_export_litert.py), so it is put back.
TYPING_EXTENSIONS ?= 4.16.0

# Reinstalls only when the pins or the project's dependencies change.
# mediapipe pulls in opencv-contrib-python (a GUI build needing libGL) beside the runtime's headless OpenCV; both write
# cv2/, so the environment ends with the pinned headless build alone.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	$(PY) -m pip uninstall -q -y opencv-contrib-python opencv-python
	$(PY) -m pip install -q --no-deps --force-reinstall -c constraints.txt opencv-python-headless
	$(PY) -m pip install -q -c constraints.txt litert-torch
	$(PY) -m pip install -q --no-deps 'typing-extensions==$(TYPING_EXTENSIONS)'
	touch $(STAMP)

install: $(STAMP)

# The BlazeFace face model: cache, else Google's URL, else the mediapipe 0.10.21 wheel from PyPI.
assets: $(STAMP)
	$(VENV)/bin/edge-sdk fetch-assets

# The whole flow on face photos shipped inside installed packages: data, teacher, students, export, bench, detect,
# and runs/demo/report.html. Finished stages are reused on a re-run (edge-sdk demo --fresh redoes them).
demo: assets
	$(VENV)/bin/edge-sdk demo --out runs/demo

# Params, MACs and parameter split of the model zoo (runs/zoo/).
zoo: assets
	$(VENV)/bin/edge-sdk zoo --out runs/zoo

# The docs' measured tables, re-rendered from the JSON in docs/data/ (copied there from runs/zoo, runs/bench and
# runs/parity); tests/test_docs.py fails when a table and its data differ.
docs: $(STAMP)
	$(PY) -m edge_sdk.benchmarks.render

test: assets
	$(PY) -m pytest -q --durations=25 tests

# Inputs, parity crops and calibration for the benchmarks: the shared sample faces when they are beside
# the clone, else seeded random crops and random calibration (parity then is not compared with the baseline).
SAMPLES ?= $(wildcard ../shared/samples)
BENCH_DATA ?= $(if $(SAMPLES),--data $(SAMPLES),--calib random)
BENCH_CACHE ?= runs/bench-cache

# The README's benchmark table: every target this machine can run, three students, 100 timed runs each.
bench: assets
	$(VENV)/bin/edge-sdk bench --models ms_eff_gcvit_b0,repvit_m0_9_student,repvit_m1_1_student --targets all --threads 2 \
	    $(BENCH_DATA) --cache $(BENCH_CACHE) --out runs/bench $(if $(SAMPLES),--e2e $(SAMPLES)/western_fake.mp4,)

# Seed 001's ViT-B/16 (random weights in the HF layout) on every target this machine runs or checks, per
# precision (int8 keeps layer norm, softmax and GELU in float: its card); 30 timed runs, about 20 minutes.
VIT_TARGETS = torch,onnx-fp32,onnx-fp16,onnx-int8,executorch-fp32,executorch-int8,coreml-fp16,tensorrt-fp16,tensorrt-int8,openvino-fp32,openvino-fp16,openvino-int8,litert-fp32,litert-fp16,litert-int8,ncnn-fp32,ncnn-fp16
bench-vit: assets
	$(VENV)/bin/edge-sdk bench --models vit_b16_hf_deepfake --targets $(VIT_TARGETS) --threads 2 --runs 30 \
	    $(BENCH_DATA) --cache $(BENCH_CACHE) --out runs/bench-vit

# Seed 003's M2TR (EfficientNet-B4 at 320 px, random weights) on the targets that run or check here, 10 timed runs;
# then its cross-modality fusion's memory and latency per kv_pool (benchmarks/m2tr_fusion.py).
M2TR_TARGETS = torch,onnx-fp32,onnx-fp16,onnx-int8,executorch-fp32,executorch-int8,coreml-fp16,tensorrt-fp16
bench-m2tr: assets
	$(VENV)/bin/edge-sdk bench --models m2tr_b4 --targets $(M2TR_TARGETS) --threads 2 --warmup 2 --runs 10 \
	    $(BENCH_DATA) --cache $(BENCH_CACHE) --out runs/bench-m2tr
	$(VENV)/bin/python -m edge_sdk.benchmarks.m2tr_fusion --pools 1,2,4 --threads 2 --out runs/m2tr_fusion

# Seed 002's Megatron bundle (Depth-Anything-V2-Small at 196 px, RepViT-M0.9, T = 20, random weights): each part per
# crop and per clip, the whole clip, and end to end (clips/s) on the sample video; then depth cost per resolution.
MEGATRON_VIDEO ?= $(firstword $(wildcard ../shared/samples/western_real.mp4))
bench-megatron: assets
	$(VENV)/bin/edge-sdk bench --models megatron_rgbd --model-kwargs '{"depth_size": 196}' \
	    --targets torch,onnx-fp32,executorch-fp32 --threads 2 --warmup 2 --runs 10 $(BENCH_DATA) \
	    $(if $(MEGATRON_VIDEO),--e2e $(MEGATRON_VIDEO)) --cache $(BENCH_CACHE) --out runs/bench-megatron
	$(VENV)/bin/python -m edge_sdk.benchmarks.megatron_depth --out runs/megatron_depth

# Issue #22's measurements: B0 and RepViT-M0.9 on ONNX Runtime and ExecuTorch fp32 / int8 with each target's top
# ops (--profile), and end to end per target on the 720p sample video with faces detected every 1, 3 and 5 frames.
SPEED_VIDEO ?= $(firstword $(wildcard ../shared/samples/western_fake.mp4))
bench-speed: assets
	$(VENV)/bin/edge-sdk bench --models ms_eff_gcvit_b0,repvit_m0_9_student \
	    --targets torch,onnx-fp32,onnx-int8,executorch-fp32,executorch-int8 --threads 2 --warmup 5 --runs 30 \
	    $(BENCH_DATA) --profile $(if $(SPEED_VIDEO),--e2e $(SPEED_VIDEO) --e2e-target all --e2e-detect-every 3$(comma)5) \
	    --cache $(BENCH_CACHE) --out runs/bench-speed

# CI's quick bench (.ci/run): B0 and RepViT-M0.9, ONNX and ExecuTorch fp32/int8, 20 runs; fails on a parity
# regression against the committed baseline (speed is reported as ratios to eager PyTorch and quantized / fp32, not
# gated); with the samples beside the clone, end to end on the 720p sample video with ONNX fp32 and ExecuTorch int8.
CI_VIDEO ?= $(firstword $(wildcard ../shared/samples/western_fake.mp4))
bench-ci: assets
	$(VENV)/bin/edge-sdk bench --models ms_eff_gcvit_b0,repvit_m0_9_student \
	    --targets torch,onnx-fp32,onnx-int8,executorch-fp32,executorch-int8 --warmup 3 --runs 20 \
	    $(BENCH_DATA) --cache $(BENCH_CACHE) --out runs/bench-ci --baseline benchmarks/baselines/ci-quick.json \
	    --gate parity $(if $(CI_VIDEO),--e2e $(CI_VIDEO) --e2e-target onnx-fp32$(comma)executorch-int8)

clean:
	rm -rf $(VENV) runs .pytest_cache
