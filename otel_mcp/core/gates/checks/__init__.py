"""Running a check: plan, process, privilege, the files examined, output read, the signed runner span."""
