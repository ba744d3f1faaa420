# One image for every Freshet process: web (gunicorn), worker, beat, Flower, the simulator
# and the one-shot steps (migrate, demo seed). docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Prometheus multi-process mode: gunicorn workers (and prefork children) write here and
    # one scrape adds them up. A tmpfs in docker-compose.yml; one directory per container.
    PROMETHEUS_MULTIPROC_DIR=/tmp/freshet-metrics

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p api workers tasks schemas freshet store guards sources simulator bench \
    && for d in api workers tasks schemas freshet store guards sources simulator bench; do \
         touch "$d/__init__.py"; done \
    && pip install . \
    && pip uninstall -y freshet \
    && rm -rf api workers tasks schemas freshet store guards sources simulator bench

COPY api ./api
COPY workers ./workers
COPY tasks ./tasks
COPY schemas ./schemas
COPY freshet ./freshet
COPY store ./store
COPY guards ./guards
COPY sources ./sources
COPY simulator ./simulator
COPY bench ./bench
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 freshet \
    && mkdir -p /var/lib/freshet "$PROMETHEUS_MULTIPROC_DIR" \
    && chown freshet /var/lib/freshet "$PROMETHEUS_MULTIPROC_DIR"

USER freshet
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "gthread", \
     "--threads", "8", "api.app:wsgi()"]
