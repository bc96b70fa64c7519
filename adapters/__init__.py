"""Platform adapters: Discord, Slack and the console, each a thin translation layer over the core."""
