# Two commands for a newcomer: `make demo` (the main job) and `make test`.
# Each creates .venv if missing and installs the pinned set; both are safe to run twice.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edge-sdk-installed

.PHONY: demo test install assets clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when the pins or the project's dependencies change.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# The BlazeFace face model: cache, else Google's URL, else the mediapipe 0.10.21 wheel from PyPI.
assets: $(STAMP)
	$(VENV)/bin/edge-sdk fetch-assets

demo: assets
	$(VENV)/bin/edge-sdk zoo --out runs/zoo

test: assets
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs .pytest_cache
