# coolpapers: one image for the web app (default), the worker and migrations.
#   docker build -t coolpapers .
#   docker run --rm -v coolpapers-data:/data coolpapers coolpapers db upgrade   # SQLite in /data
#   docker run -p 8000:8000 -v coolpapers-data:/data coolpapers                 # web, no scheduler
# docker-compose.yml runs it on Postgres, with migrations, a worker and (optionally) Caddy.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs (no .venv, data or tests in the build context's copy).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY coolpapers ./coolpapers
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN pip install .

RUN useradd --create-home --uid 10001 --user-group coolpapers \
    && mkdir /data \
    && chown coolpapers:coolpapers /data

# SQLite file (when COOLPAPERS_DATABASE_URL is unset), caches and the generated secret key.
ENV COOLPAPERS_DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /data
USER coolpapers

EXPOSE 8000
# alive: any answer of the app (401 too, with COOLPAPERS_PUBLIC_READ=false)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import http.client as h; c = h.HTTPConnection('127.0.0.1', 8000, timeout=4); c.request('GET', '/api/status'); raise SystemExit(c.getresponse().status not in (200, 401))"]

CMD ["coolpapers", "serve", "--host", "0.0.0.0", "--no-scheduler"]
