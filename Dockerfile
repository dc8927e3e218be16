# otel-mcp as a network service: MCP over streamable HTTP on :8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/otel-mcp
# prompts/ and gates/ are packaged too (see pyproject.toml), so they are copied before installing.
COPY pyproject.toml README.md ./
COPY otel_mcp ./otel_mcp
COPY prompts ./prompts
COPY gates ./gates
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/otel-mcp --no-create-home otel-mcp \
    && mkdir -p /var/lib/otel-mcp \
    && chown otel-mcp /var/lib/otel-mcp

# State that must survive restarts (the attestation key file) lives here; Compose mounts a volume.
VOLUME ["/var/lib/otel-mcp"]
USER otel-mcp
EXPOSE 8000
CMD ["otel-mcp", "serve", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8000"]
