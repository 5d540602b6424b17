# DDX7-book.  `make book` builds the Jupyter Book, `make test` runs the tests.
# Everything (Python packages, system packages, vendored JavaScript) is installed from here:
# a fresh machine needs only python3 (>= 3.11), make and, for system packages, root + apt.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := book

# Profile of `make book`: smoke | quick | full. It becomes `full` by itself once the full
# results are committed (results/full/.complete exists); until then `quick`.
PROFILE ?= $(if $(wildcard results/full/.complete),full,quick)
# `make book ONLY=NAME` re-executes only notebook NAME (the others keep their executed copies).
ONLY ?=

SYSTEM_PYTHON ?= python3
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python

# Pinned npm packages vendored into _vendor/ so the book renders math and widgets offline.
NPM_HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15
NPM_REQUIREJS := requirejs@2.3.7
NPM_MATHJAX := mathjax@3.2.2
NPM_PACKAGES := $(NPM_HTML_MANAGER) $(NPM_REQUIREJS) $(NPM_MATHJAX)
VENDOR_STAMP := _vendor/.stamp-$(subst /,_,$(subst @,,$(subst $(eval) ,+,$(NPM_PACKAGES))))


.PHONY: all venv system-deps vendor test lint book clean distclean help

all: test book

help:
	@echo "make book     execute the notebooks (PROFILE=$(PROFILE)) and build _build/html/index.html"
	@echo "make test     lint with ruff, then run the test suite"
	@echo "make venv     create/update $(VENV) (pip + apt packages); make vendor: JS into _vendor/"
	@echo "make clean    remove build outputs;  make distclean: also $(VENV) and _vendor"

# ---------------------------------------------------------------- Python environment
venv: $(VENV)/.installed

# Re-run when pyproject.toml changes. `[tool.ddx7] nodeps` packages are installed with
# --no-deps (torchcrepe would otherwise pull a CUDA torchaudio that breaks CPU torch).
$(VENV)/.installed: pyproject.toml
	@if [ ! -x "$(PYTHON)" ]; then \
	  echo "[venv] creating $(VENV) with $(SYSTEM_PYTHON)"; \
	  $(SYSTEM_PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "need Python >= 3.11"'; \
	  $(SYSTEM_PYTHON) -m venv $(VENV); \
	fi
	$(PYTHON) -m pip install -e '.[test]'
	nodeps="$$($(PYTHON) -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["ddx7"]["nodeps"]))')"; \
	  if [ -n "$$nodeps" ]; then $(PYTHON) -m pip install --no-deps $$nodeps; fi
	@$(MAKE) --no-print-directory system-deps
	@touch $@

# fluidsynth + the FluidR3 GM soundfont render the training data (TimGM6mb: the unseen phrases of
# `ddx7 eval-unseen`; csound's sf_GMbank: its second sample set, `--name unseen-csound`), chromium runs
# the browser tests, npm fetches the vendored JavaScript, gcc compiles the C streamer (ddx7/native, on first use).
# Installed with apt-get when missing.
system-deps:
	@missing=""; \
	command -v fluidsynth >/dev/null || missing="$$missing fluidsynth"; \
	test -f /usr/share/sounds/sf2/FluidR3_GM.sf2 || missing="$$missing fluid-soundfont-gm"; \
	test -f /usr/share/sounds/sf2/TimGM6mb.sf2 || missing="$$missing timgm6mb-soundfont"; \
	test -f /usr/share/sounds/sf2/sf_GMbank.sf2 || missing="$$missing csound-soundfont"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v cc >/dev/null || missing="$$missing gcc"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "[system-deps] installing:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; \
	else echo "[system-deps] ERROR: missing$$missing; install them as root: apt-get install -y$$missing" >&2; exit 1; fi; \
	$$SUDO apt-get update; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing

# ---------------------------------------------------------------- vendored JavaScript
vendor: $(VENDOR_STAMP)

# npm pack downloads the tarballs only (no node_modules, no scripts run).
$(VENDOR_STAMP):
	@command -v npm >/dev/null || $(MAKE) --no-print-directory system-deps
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	echo "[vendor] npm pack $(NPM_PACKAGES)"; \
	(cd "$$tmp" && npm pack --silent $(NPM_PACKAGES) >/dev/null); \
	for f in "$$tmp"/*.tgz; do d="$$tmp/x/$$(basename "$$f" .tgz)"; mkdir -p "$$d"; tar -xzf "$$f" -C "$$d"; done; \
	hm="$$(echo "$$tmp"/x/jupyter-widgets-html-manager-*/package)"; \
	rj="$$(echo "$$tmp"/x/requirejs-*/package)"; \
	mj="$$(echo "$$tmp"/x/mathjax-*/package)"; \
	out="$$tmp/out"; mkdir -p "$$out/widgets" "$$out/mathjax"; \
	cp "$$hm"/dist/embed-amd.js "$$hm"/dist/embed.js.LICENSE.txt "$$out/widgets/"; \
	cp "$$hm"/dist/*.woff "$$hm"/dist/*.woff2 "$$hm"/dist/*.ttf "$$hm"/dist/*.eot "$$hm"/dist/*.svg "$$out/widgets/"; \
	cp "$$rj"/require.js "$$out/widgets/"; \
	cp -r "$$mj"/es5 "$$out/mathjax/es5"; cp "$$mj"/LICENSE "$$out/mathjax/"; \
	printf '%s\n' "# npm packages vendored by 'make vendor' (git-ignored, rebuilt)" $(NPM_PACKAGES) > "$$out/VERSIONS.txt"; \
	rm -rf _vendor; mv "$$out" _vendor; touch $@; \
	echo "[vendor] _vendor/ ready ($$(du -sh _vendor | cut -f1))"

# ---------------------------------------------------------------- targets
# pytest exit code 5 = no tests collected: not a failure while the suite is being written.
test: venv lint
	@rc=0; $(PYTHON) -m pytest -q tests || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "[test] no tests collected"; exit 0; fi; exit $$rc

# ruff lint of the package and the tests (settings in pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check ddx7 tests

# `ddx7 book` (ddx7/cli/book.py, on ddx7/book.py): papermill, then jupyter-book.
book: venv vendor
	@args="--profile $(PROFILE)$(if $(ONLY), --only $(ONLY))"; \
	echo "[book] $(VENV)/bin/ddx7 book $$args"; $(VENV)/bin/ddx7 book $$args

clean:
	rm -rf _build book/executed

distclean: clean
	rm -rf $(VENV) _vendor *.egg-info
