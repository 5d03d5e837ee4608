# One image for both services of docker-compose.yml: the Smart Router (`serve`) and the
# data flywheel worker (`worker`). Configured entirely by environment (see README.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY clients ./clients
# The schema file users paste; the wheel carries it into the package for `migrate`.
COPY infrastructure/database ./infrastructure/database
RUN pip install . && useradd --create-home flywheel
USER flywheel

EXPOSE 8000
ENTRYPOINT ["phoenix-flywheel"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
