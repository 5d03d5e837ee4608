# One image for every service of docker-compose.yml: the one-shot `migrate`, the Smart
# Router (`serve`) and the data flywheel workers (`worker`). Configured entirely by
# environment (see docs/configuration.md). The base image is pinned to the exact Python that the
# tests and requirements.lock were made with: change both together (scripts/lock.sh).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The dependencies first, at the locked versions: this layer is rebuilt only when the
# lock changes. --no-deps: nothing but what the lock names is installed.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
COPY clients ./clients
# The schema file users paste; the wheel carries it into the package for `migrate`.
COPY infrastructure/database ./infrastructure/database
RUN pip install --no-deps ./clients/python . \
    && useradd --create-home --uid 10001 flywheel \
    && mkdir /data \
    && chown flywheel:flywheel /data

# What the service writes lives in /data, its working directory, owned by the user it
# runs as: the SQLite fallback (DATABASE_URL's default, sqlite:///phoenix_flywheel.db,
# is relative). docker-compose.yml mounts a volume there.
WORKDIR /data
VOLUME ["/data"]
USER flywheel

EXPOSE 8000
ENTRYPOINT ["phoenix-flywheel"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
