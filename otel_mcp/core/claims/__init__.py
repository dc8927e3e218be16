"""Claims and readiness: exactly one live holder per task, and "what can I do next".

`fold` (the lease fold over the appended claim history), `globs` (path reservations' globs: validation,
matching, overlap), `path_index` (reservations by the literal start of their globs), `reservations`
(who reserves which paths now; the pre-commit check), `world` (a process's running fold of reserving
tasks on SQLite), `service` (claim_task and release_task on transactional and append-only stores),
`readiness` (find_ready, cycles), `results` and `texts` (what the tools return).

Nothing is re-exported here: the pre-commit hook imports `reservations` alone, and a front importing
the claim service would add its result models and OpenTelemetry's SDK to every commit (measured:
0.05 s -> 0.36 s of CPU to import the hook). Import from the module that defines a name.
"""
