"""gunicorn entry point. Importing it loads and compiles every ruleset, which
``preload_app`` does once in the master, before the workers fork."""
import gc
import logging
import os

from .auth.startup import StartRefused, check_start
from .engine import engine_version, is_patched_build
from .http.app import create_app
from .jsonlog import configure_logging

configure_logging(logging.INFO)  # one JSON object a line, with the request's id

if not is_patched_build() and os.environ.get("RAC_ALLOW_STOCK_ENGINE") != "1":
    raise SystemExit(
        f"durable_rules {engine_version()} is not the server build (2.0.28+server.1); "
        "run scripts/install.sh, or set RAC_ALLOW_STOCK_ENGINE=1 to run it anyway"
    )

try:  # BIND is what gunicorn.conf.py binds to
    for level, line in check_start(os.environ):
        logging.getLogger("service").log(level, "%s", line)
except StartRefused as refused:
    raise SystemExit(str(refused)) from None

app = create_app()

# The compiled law is immutable from here on: keep it out of the collector's
# generations, so that forked workers neither rescan nor copy its pages.
gc.collect()
gc.freeze()
