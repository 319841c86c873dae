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
CMD ["gunicorn", "emissions_hub.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
