# Production image of the back-office: one image for the web (gunicorn) and the RQ worker.
# Front-end libraries come from the npm registry at build time (never from a CDN at run time).

# --- Stage 1: htmx (and any other front-end package in package.json) from the npm registry
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && mkdir -p vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js vendor/htmx.min.js \
 && if [ -d node_modules/chart.js ]; then cp node_modules/chart.js/dist/chart.umd.js vendor/chart.umd.js; fi \
 && mkdir -p vendor/swagger-ui \
 && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css vendor/swagger-ui/

# --- Stage 2: the Python application
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    APP_ENV=production \
    INSTANCE_PATH=/app/instance \
    PORT=8080
WORKDIR /app
# WeasyPrint (PDF documents) draws text with Pango and Debian's DejaVu fonts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system backoffice && useradd --system --gid backoffice --home /app backoffice
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY backoffice ./backoffice
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY wsgi.py ./
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY --from=assets /build/vendor ./static/vendor
RUN mkdir -p /app/instance && chown backoffice:backoffice /app/instance \
 && chmod 0755 /usr/local/bin/docker-entrypoint.sh
USER backoffice
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/sante', timeout=4)"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["web"]
