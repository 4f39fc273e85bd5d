"""slastream engine (pure) and its streaming adapters (Faust app, CLI)."""
