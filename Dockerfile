# ag2api: OpenAI-compatible gateway for Google's Antigravity backend.
# Pinned by digest so every build starts from the same image: python:3.11-slim (3.11.16 on Debian
# trixie), the multi-arch index published 2026-08-16. To move it, resolve the tag's current digest
# (`docker buildx imagetools inspect python:3.11-slim`), and update it here and in the comment.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

# Install the package first (cached layer), then the default config. Its dependencies come at the
# versions pinned in constraints.txt, the ones the tests run with (CONTRIBUTING.md, Dependencies).
COPY pyproject.toml setup.cfg README.md constraints.txt ./
COPY ag2api ./ag2api
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app ag2api \
    && mkdir -p /app/data \
    && chown ag2api:ag2api /app/data
COPY conf ./conf
# Only the OAuth client part: it holds no account, so nothing fake is ever loaded.
COPY --chown=ag2api:ag2api data/tokens.json.example ./data/

# In a container the gateway must listen on all interfaces; it then refuses to start without
# api_keys (set API_KEYS in .env for docker compose, or AG2API_API_KEYS).
ENV AG2API_HOST=0.0.0.0
EXPOSE 8000
VOLUME ["/app/conf", "/app/data"]

# Never root. docker compose runs it as the host user instead (user: in docker-compose.yml), so
# files in the bind-mounted data/ stay the host user's; any uid works, /app is world-readable.
USER ag2api

# /health needs no key and is always 200 while the gateway serves (AG2API_PORT if the port moved).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % (os.environ.get('AG2API_PORT') or '8000'), timeout=4)"]

CMD ["ag2api", "--config", "/app/conf/gateway.yaml"]
