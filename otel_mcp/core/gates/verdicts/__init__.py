"""Does this gate stand? Evidence evaluated, the standing of a gate for a task, decisions and guards."""
