# porscan in a container: the CLI with its Python dependencies.
# (No Docker engine runs on the development machines; the entrypoint is tested outside Docker.)
FROM python:3.11-slim
WORKDIR /opt/porscan
COPY pyproject.toml README.md ./
COPY scanner ./scanner
COPY chains ./chains
COPY signatures ./signatures
RUN pip install --no-cache-dir .
ENTRYPOINT ["porscan"]
CMD ["--help"]
