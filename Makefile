# Quick start: `make demo` (the main job) and `make test` (every test).
# Both install missing Debian packages first, then build with CMake.
BUILD_DIR ?= build
TSAN_DIR ?= build-tsan
JOBS ?= $(shell nproc)
DEMO_DIR ?= var/demo
# `make demo` ends by serving the demo index with the page at
# http://127.0.0.1:$(DEMO_PORT)/ (Ctrl-C drains and stops it); DEMO_SERVE=0 skips that.
DEMO_SERVE ?= 1
DEMO_PORT ?= 8080
FUNNEL = $(BUILD_DIR)/funnel

.PHONY: all deps build demo test test-tsan clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test of the main build, then the concurrency test again in a
# ThreadSanitizer build of the serving core (no libtorch: it is quick to build).
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) test-tsan

$(TSAN_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFUNNEL_TORCH=OFF -DFUNNEL_SANITIZE=thread

test-tsan: deps $(TSAN_DIR)/CMakeCache.txt
	cmake --build $(TSAN_DIR) -j $(JOBS) --target concurrency_test
	cd $(TSAN_DIR) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure -L concurrency

demo: build
	bash scripts/demo.sh $(FUNNEL) $(DEMO_DIR)
	@if [ "$(DEMO_SERVE)" != 0 ]; then \
	  echo; echo "demo page: http://127.0.0.1:$(DEMO_PORT)/  (Ctrl-C or SIGTERM stops the server; DEMO_SERVE=0 skips it)"; \
	  exec $(FUNNEL) serve --index $(DEMO_DIR)/index-prerank --port $(DEMO_PORT) --users $(DEMO_DIR)/world/users.jsonl \
	    --config configs/serve.json --config configs/demo-ltr.json --config configs/prerank-100.json; \
	fi

clean:
	rm -rf $(BUILD_DIR) $(TSAN_DIR)
