# Set-up is part of every target: a fresh clone needs only `make quickstart` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: install quickstart test bench world smoke results clean demo

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,export,dct]'
	touch $(STAMP)

install: $(STAMP)

QS := out/quickstart
QS_WORLD := $(QS)/world
CONVERT_FLAGS = --body_model $(QS_WORLD)/models/toy_smpl_neutral.npz --uv_table $(QS_WORLD)/densepose/UV_Processed.mat \
	--out $(QS)/records --size 64 --refine_iuv

quickstart: $(STAMP)
	$(PY) tools/make_synthetic.py --out $(QS_WORLD) --num 400 --size 128 --datasets up-3d,coco,h36m \
		--preview $(QS)/world_sheet.png
	$(PY) tools/convert_up3d.py --src $(QS_WORLD)/up-3d --split trainval --iuv_dir $(QS_WORLD)/densepose_predictions/up-3d $(CONVERT_FLAGS)
	$(PY) tools/convert_up3d.py --src $(QS_WORLD)/up-3d --split test --iuv_dir $(QS_WORLD)/densepose_predictions/up-3d $(CONVERT_FLAGS)
	$(PY) tools/convert_coco_densepose.py --src $(QS_WORLD)/coco --split train --iuv_dir $(QS_WORLD)/densepose_predictions/coco $(CONVERT_FLAGS)
	$(PY) tools/convert_h36m.py --src $(QS_WORLD)/h36m --split train --iuv_dir $(QS_WORLD)/densepose_predictions/h36m $(CONVERT_FLAGS)
	$(PY) -m tfhybrid.train --flagfile=configs/quickstart.flags
	$(PY) -m tfhybrid.evaluate --flagfile=configs/quickstart.flags --data='$(QS)/records/up-3d-test-*.tfrecord' \
		--picture=$(QS)/predictions.png

# The demo on synthetic group photos, with the model `make quickstart` trained.
demo: $(STAMP)
	test -f $(QS)/model/flags.json || (echo "run make quickstart first: the demo uses its model" && false)
	rm -rf $(QS)/export/1 $(QS)/demo
	$(PY) -m tfhybrid.export --model_dir=$(QS)/model --out=$(QS)/export/1
	$(PY) -m tfhybrid.synthetic.photos --out=$(QS)/photos --num=3 --people=3
	$(PY) -m tfhybrid.demo --saved_model=$(QS)/export/1 --image=$(QS)/photos --out=$(QS)/demo

# One test process per core; each file's tests stay in one process (module fixtures are built once).
test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile --durations=15 tests

bench: $(STAMP)
	$(PY) bench/smpl.py
	$(PY) bench/render.py
	$(PY) bench/input_pipeline.py
	$(PY) bench/train_step.py

SMOKE_CONVERT = --body_model out/world/models/toy_smpl_neutral.npz --uv_table out/world/densepose/UV_Processed.mat \
	--out out/records --size 64 --refine_iuv

smoke: world
	$(PY) tools/convert_up3d.py --src out/world/up-3d --split trainval --iuv_dir out/world/densepose_predictions/up-3d $(SMOKE_CONVERT)
	$(PY) tools/convert_h36m.py --src out/world/h36m --split train --iuv_dir out/world/densepose_predictions/h36m $(SMOKE_CONVERT)
	$(PY) -m tfhybrid.train --flagfile=configs/smoke.flags
	$(PY) -m tfhybrid.evaluate --flagfile=configs/smoke.flags --data='out/records/up-3d-trainval-*.tfrecord'

# The oracle (its archived arms are kept, not fitted again), then the study on the cpu_long profile (three
# seeds; many hours on 2 CPU cores, resumable; the cells that the paper's claims compare first), then
# docs/results.md. The runs already in docs/results/cpu_long (from any machine) are not trained again; new
# ones are added there as they finish.
results: $(STAMP)
	$(PY) -m tfhybrid.study.oracle --flagfile=configs/oracle.flags
	$(PY) -m tfhybrid.study --flagfile=configs/study_all.flags --archive=docs/results/cpu_long --docs=docs/results.md --summary=README.md,docs/results.md

world: $(STAMP)
	$(PY) tools/make_synthetic.py --out out/world --num 64 --seed 0 --preview out/world/sheet.png

clean:
	rm -rf out .pytest_cache
