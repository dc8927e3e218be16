import sys

from otel_mcp.cli import main

sys.exit(main())
