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
RUN pip install ".[checks]" \
    && useradd --system --uid 10002 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin otel-mcp-check \
    && install -d -m 0700 /var/lib/otel-mcp

# State that must survive restarts (the attestation key file, the spool) lives here, private to the
# server; Compose mounts a volume. The server runs as root only so that it can run every check as
# `otel-mcp-check`, an account that can read the workspace but not the key or this state: code a
# check executes (a test suite) cannot sign evidence. See the README's threat model.
VOLUME ["/var/lib/otel-mcp"]
ENV OTEL_MCP_CHECK_USER=otel-mcp-check
EXPOSE 8000
CMD ["otel-mcp", "serve", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8000"]
