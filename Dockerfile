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

RUN useradd --system --no-create-home rules
USER rules
ENV BIND=0.0.0.0:8080 WORKERS=2 THREADS=4
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"]
