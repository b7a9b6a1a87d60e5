# make demo | make test | make bench | make build — each runs the set-up first (packages if missing).
BUILD ?= build
JOBS ?= 2
CMAKE_ARGS ?=

.PHONY: setup configure build demo test bench results clean format

setup:
	@bash scripts/setup

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) > /dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: configure
	@cmake --build $(BUILD) -j $(JOBS) --target attnd
	@OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-2} ./$(BUILD)/attnd demo --out runs/demo

test: build
	@cd $(BUILD) && OPENBLAS_NUM_THREADS=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@bash scripts/run-bench

clean:
	rm -rf $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cpp')
