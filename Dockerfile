# kflow: the operator and the runtime image of built-in task pods (Download, DuckDB, PostgreSQL,
# storage tasks, the script tasks' `prepare` init container). Non-root, `kflow` as entrypoint.
#   docker build -t kflow:dev .        (or: make image, which builds it with BuildKit here)
# The tests build this same file with BuildKit; they replace the base image by a Debian root
# filesystem made with debootstrap (a named build context), since nothing is pulled there.
FROM python:3.11-slim-bookworm

ENV PATH=/opt/kflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The package with the dependencies of its pyproject.toml (and the GCP tasks' client libraries), in its
# own virtual environment.
COPY pyproject.toml /src/
COPY operator /src/operator
RUN python3 -m venv /opt/kflow \
    && /opt/kflow/bin/pip install --no-cache-dir --disable-pip-version-check "/src[gcp]" \
    && rm -rf /src \
    && useradd --uid 1000 --user-group --create-home --shell /bin/sh kflow
USER 1000:1000
WORKDIR /home/kflow
ENTRYPOINT ["kflow"]
CMD ["--help"]
