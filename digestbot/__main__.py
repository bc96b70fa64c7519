"""Run the command line: ``python -m digestbot``."""

from digestbot.cli import main

raise SystemExit(main())
