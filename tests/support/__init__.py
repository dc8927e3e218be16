"""Test servers and fakes shared by the tests and the bench scripts; not shipped in the wheel.

`chdb_http` serves ClickHouse's HTTP interface from an embedded chdb engine, `otlp_receiver` is a
loopback OTLP/HTTP endpoint and `collector` stands in for the collector's ClickHouse exporter.
Benches import them as `tests.support.*`, which works because they run from the repository root
(`python -m bench.<name>`).
"""
