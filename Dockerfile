# Image for the web, worker and beat services of docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml ./
COPY tracker_client ./tracker_client
RUN pip install --no-cache-dir . ./tracker_client
COPY . .
RUN DEBUG=1 python manage.py collectstatic --no-input -v0
RUN useradd --system --home /app hub && mkdir -p /app/data && chown hub /app/data
USER hub
EXPOSE 8000
# gthread, 2 processes x 4 threads: the best or within 2 % of it on 2 cores (bench/ingest/run.py
# --compare-workers); set GUNICORN_CMD_ARGS to size it for a bigger machine.
CMD ["gunicorn", "emissions_hub.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--timeout", "60"]
