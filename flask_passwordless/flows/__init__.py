"""One module per flow; each adds its views to the blueprint in ``register``."""
