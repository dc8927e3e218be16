"""Gates: evidence that cannot be hallucinated.

Grouped by the question a reader asks:

- `definitions` — what is defined: the YAML admins write (`spec`, `checkspec`, bounded `_yaml`,
  `parse`), the `catalog` assembled from it, `loading` it as committed (`committed`, `freshness`),
  the agent-facing `listing`, and the attribute `names` the spans carry.
- `checks` — running a check: its `plan`, the `process`, who it runs as (`privilege`), the files it
  examines (`examine`, `imports`), reading its output (`extract`), the signed runner span
  (`runner`, `describe`, `traceparent`) and `lint` warnings about checks that promise too little.
- `verdicts` — does this gate stand? `evaluate` (cited spans against requirements), `standing`
  (the one verdict), `decisions` (submit_gate_evidence), `guards` (guarded transitions), `judge`
  (the object that answers), `verify` (`gates status`), `integrity` and `audit_chain` (chains).

`results` holds what the gate tools take and return. Signing lives in `otel_mcp.telemetry.attestation`.

Nothing is re-exported here: the git hooks import single modules (`verdicts.standing`, and
`claims.reservations` beside it), and a front importing the check runner would put asyncio and
OpenTelemetry's SDK on every commit. Import from the module that defines a name.
"""
