# porscan in a container: the CLI with its Python dependencies, as an unprivileged user.
# (No Docker engine runs on the development machines; the entry point is tested outside Docker.)
FROM python:3.11-slim

# dependencies first, from pyproject.toml alone: a code change does not reinstall them
WORKDIR /opt/porscan
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY README.md ./
COPY scanner ./scanner
COPY chains ./chains
COPY signatures ./signatures
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 porscan && mkdir /data && chown porscan /data
USER porscan
WORKDIR /data

# for `porscan serve`: healthy while the feed answers at all (401 without the token counts as alive)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD python -c "import sys, urllib.request, urllib.error; \
exec('try:\n urllib.request.urlopen(\"http://127.0.0.1:8080/api/v1/exchanges\", timeout=4)\nexcept urllib.error.HTTPError as e:\n sys.exit(e.code >= 500)\nexcept OSError:\n sys.exit(1)')"

ENTRYPOINT ["porscan"]
CMD ["--help"]
