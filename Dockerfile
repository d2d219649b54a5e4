# One image for every Insiders service (migrate, worker, beat, dashboard, flower).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY store ./store
COPY worker ./worker
COPY dashboard ./dashboard
COPY migrations ./migrations
RUN pip install . \
    && useradd --create-home --uid 1000 insiders \
    && mkdir -p /data && chown insiders /data

USER insiders
VOLUME ["/data"]
EXPOSE 8050 5555
CMD ["insiders", "--help"]
