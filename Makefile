# PETGAN. `make demo` and `make test` are all a new user needs.
SWIFT      ?= swift
BUILD_OPTS := -c release
PETGAN     := .build/release/petgan

.PHONY: setup build demo test bench clean fuzz fuzz-smoke

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build $(BUILD_OPTS) --product petgan

# The demo: templates (fetched once) → small phantom cohort → conditional 3D WGAN-GP and the reduced
# 2D paper baseline → NIfTI/PNG samples of each class, loss curves, demo-output/report.html.
# Knobs for a real run: `petgan demo --help` and docs (petgan train --preset paper2d, 96x112x96 grids).
demo: build
	@Volumes/fetch-templates.sh
	$(PETGAN) demo --out demo-output

# The numeric suite runs in release (debug numeric loops are 10-100x slower).
test: setup
	@scripts/setup-python.sh
	@scripts/setup-python-bids.sh
	@scripts/setup-test-tools.sh
	@Volumes/fetch-templates.sh
	$(SWIFT) build $(BUILD_OPTS) -Xswiftc -enable-testing --build-tests
	$(SWIFT) test $(BUILD_OPTS) -Xswiftc -enable-testing --skip-build
	@$(MAKE) --no-print-directory fuzz-smoke

# libFuzzer targets (NIfTI reader, HDF5 store opener, YAML config; Fuzz/, scripts/fuzz.sh), built with
# -sanitize=fuzzer,address in .build-fuzz: `make fuzz` runs each for 10^6 executions, `make fuzz-smoke`
# (the end of `make test`) for 60 s each. A crash fails the target.
fuzz: setup
	@SWIFT=$(SWIFT) scripts/fuzz.sh runs 1000000

fuzz-smoke: setup
	@SWIFT=$(SWIFT) scripts/fuzz.sh time 60

bench: build
	@mkdir -p bench-results
	$(PETGAN) bench conv --json bench-results/conv.json

clean:
	rm -rf .build
