# The Eureka web app image: ASGI web, Celery worker and Celery beat all run from it.
FROM node:20-bookworm-slim AS frontend
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 1000 eureka && mkdir -p /var/lib/eureka && chown eureka /var/lib/eureka
COPY pyproject.toml constraints.txt README.md ./
COPY eureka/__init__.py eureka/__init__.py
RUN pip install -c constraints.txt .
COPY . .
COPY --from=frontend /app/node_modules ./node_modules
# collectstatic needs settings, not services: placeholder values, used only for this step.
RUN DJANGO_SETTINGS_MODULE=eureka.settings.production \
    DJANGO_SECRET_KEY=build-only-build-only-build-only-build-only-build-only \
    DJANGO_ALLOWED_HOSTS=build DATABASE_URL=postgres://build/build REDIS_URL=redis://build \
    EUREKA_MODEL_BASE_URL=http://build/v1 EMAIL_URL=consolemail:// \
    python manage.py collectstatic --noinput
USER eureka
ENV DJANGO_SETTINGS_MODULE=eureka.settings.production
EXPOSE 8000
CMD ["uvicorn", "eureka.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*"]
