# ag2api: OpenAI-compatible gateway for Google's Antigravity backend.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

# Install the package first (cached layer), then the default config.
COPY pyproject.toml setup.cfg README.md ./
COPY ag2api ./ag2api
RUN pip install --no-cache-dir . && mkdir -p /app/data
COPY conf ./conf
COPY data/tokens.json.example ./data/

# In a container the gateway must listen on all interfaces; it then refuses to start without
# api_keys (set API_KEYS in .env for docker compose, or AG2API_API_KEYS).
ENV AG2API_HOST=0.0.0.0
EXPOSE 8000
VOLUME ["/app/conf", "/app/data"]
CMD ["ag2api", "--config", "/app/conf/gateway.yaml"]
