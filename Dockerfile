# porscan in a container: the CLI with its runtime dependencies, as an unprivileged user.
# (No Docker engine runs on the development machines; the entry point is tested outside Docker, and
# tests/cli/test_packaging.py checks that every file this Dockerfile copies exists.)
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/porscan

# dependencies first, from the runtime lock alone (exact versions, every hash checked; binary wheels
# exist for all of them, so no compiler is needed): a code change does not reinstall them
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-runtime.lock

# then porscan itself, without resolving anything again
COPY pyproject.toml README.md ./
COPY scanner ./scanner
COPY chains ./chains
COPY signatures ./signatures
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 porscan && mkdir /data && chown porscan /data
USER porscan
WORKDIR /data
# the default SQLite store lives in the mounted folder, not in the container
ENV PORSCAN_DB=/data/porscan.db
EXPOSE 8080

# for `porscan serve --host 0.0.0.0 --port 8080`: healthy while the feed answers at all (401 without the
# token counts as alive; a 5xx or no answer does not)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["python", "-c", "import sys, urllib.error, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:8080/api/v1/exchanges', timeout=4)\nexcept urllib.error.HTTPError as exc:\n    sys.exit(exc.code >= 500)\nexcept OSError:\n    sys.exit(1)"]

ENTRYPOINT ["porscan"]
CMD ["--help"]
