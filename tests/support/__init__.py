"""Helpers, test servers and fakes shared by the tests and the bench scripts; not shipped in the wheel.

`chdb_http` serves ClickHouse's HTTP interface from an embedded chdb engine, `otlp_receiver` is a
loopback OTLP/HTTP endpoint, `collector` stands in for the collector's ClickHouse exporter,
`http_server` runs `otel-mcp serve` over streamable HTTP and `mounts` gives a process a private
tmpfs. `workspace` builds real git repositories, `evidence` the gate-evidence bench over stdio,
`hooks` and `git_hooks` drive the host and git hooks. Benches import them as `tests.support.*`,
which works because they run from the repository root (`python -m bench.<name>`).
"""
