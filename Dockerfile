# The decision service: patched durable-rules built from its sdist, rulesets
# compiled once in the gunicorn master before the workers fork.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev patch \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md gunicorn.conf.py ./
COPY vendor ./vendor
RUN python -m pip install --no-cache-dir --upgrade pip setuptools wheel \
 && python vendor/durable_rules/build.py
COPY service ./service
COPY rulesets ./rulesets
COPY schemas ./schemas
RUN python -m pip install --no-cache-dir -e . \
 && python -m service validate

# The decision log's directory belongs to the user the service runs as: a
# root-owned /app/data made every decision a 503 (not logged, so not served).
RUN useradd --system --no-create-home rules \
 && mkdir -p /app/data && chown rules:rules /app/data
USER rules
VOLUME /app/data
ENV BIND=0.0.0.0:8080 WORKERS=2 THREADS=32
EXPOSE 8080
# Readiness, not liveness: unhealthy while decisions cannot be logged (the log
# unwritable, its lock held elsewhere). The port is BIND's; a wildcard host is
# reached on loopback.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD python -c "import os,sys,urllib.request; \
host, _, port = os.environ.get('BIND', '127.0.0.1:8080').rpartition(':'); \
host = {'': '127.0.0.1', '0.0.0.0': '127.0.0.1', '[::]': '[::1]'}.get(host, host); \
sys.exit(urllib.request.urlopen(f'http://{host}:{port}/readyz', timeout=2).status != 200)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"]
