"""What is defined: gate and check definitions parsed, assembled into a catalog, loaded as committed."""
