# The decision service. Two stages: the first has a compiler and builds the patched
# durable-rules from its sdist into a virtualenv with every dependency; the final
# stage copies that virtualenv and the sources, and has no compiler.
FROM python:3.11-slim-bookworm AS build

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev patch \
 && rm -rf /var/lib/apt/lists/*

# the same path in both stages: the editable install points at /app, the venv at /opt/venv
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md gunicorn.conf.py ./
COPY vendor ./vendor
RUN python -m pip install --no-cache-dir --upgrade pip setuptools wheel \
 && python vendor/durable_rules/build.py
COPY service ./service
COPY rulesets ./rulesets
COPY schemas ./schemas
COPY scripts/healthcheck.py ./scripts/healthcheck.py
RUN python -m pip install --no-cache-dir -e . \
 && python -m service validate


FROM python:3.11-slim-bookworm AS runtime

# a fixed uid, so that a volume's owner is known outside the image
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent rules
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /app/pyproject.toml /app/README.md /app/gunicorn.conf.py ./
COPY --from=build /app/service ./service
COPY --from=build /app/rulesets ./rulesets
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/scripts/healthcheck.py ./scripts/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# the engine loads without a compiler, and the law still checks
RUN python -m service validate

# The decision log's directory belongs to the user the service runs as: a
# root-owned /app/data made every decision a 503 (not logged, so not served).
# A named volume starts as a copy of this directory, owner included; a host
# directory mounted here must be writable by uid 10001.
RUN mkdir -p /app/data && chown rules:rules /app/data
USER rules
VOLUME /app/data
ENV BIND=0.0.0.0:8080 WORKERS=2 THREADS=32 RAC_DECISION_LOG=/app/data/decisions.sqlite3
EXPOSE 8080
# Readiness, not liveness: unhealthy while decisions cannot be logged. The port is BIND's;
# a wildcard host is reached on loopback (scripts/healthcheck.py).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["python", "scripts/healthcheck.py"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"]
