# PETGAN. `make demo` and `make test` are all a new user needs.
SWIFT      ?= swift
BUILD_OPTS := -c release
PETGAN     := .build/release/petgan

.PHONY: setup build demo test bench clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build $(BUILD_OPTS) --product petgan

# Until the GAN demo lands, the demo is a quick convolution benchmark.
demo: build
	$(PETGAN) bench conv --quick

# The numeric suite runs in release (debug numeric loops are 10-100x slower).
test: setup
	@scripts/setup-python.sh
	$(SWIFT) build $(BUILD_OPTS) -Xswiftc -enable-testing --build-tests
	$(SWIFT) test $(BUILD_OPTS) -Xswiftc -enable-testing --skip-build

bench: build
	@mkdir -p bench-results
	$(PETGAN) bench conv --json bench-results/conv.json

clean:
	rm -rf .build
