# The OpenTelemetry Collector contrib image, plus one static busybox so Compose can health-check it.
# The upstream image is built FROM scratch (no shell, no wget), and a Compose healthcheck runs inside
# the container; busybox's `wget --spider` probes the health_check extension on :13133.
FROM busybox:1.37-musl AS probe

FROM otel/opentelemetry-collector-contrib:0.161.0
COPY --from=probe /bin/busybox /usr/local/bin/busybox
