# Set-up is part of every target: a fresh clone needs only `make quickstart` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: install quickstart test bench world clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,export]'
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(PY) -m tfhybrid.synthetic.gallery --out out/quickstart/poses.png

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) bench/smpl.py
	$(PY) bench/render.py
	$(PY) bench/input_pipeline.py

world: $(STAMP)
	$(PY) tools/make_synthetic.py --out out/world --num 64 --seed 0 --preview out/world/sheet.png

clean:
	rm -rf out .pytest_cache
