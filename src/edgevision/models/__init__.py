"""Model architectures (pure PyTorch). Import a family module to register its models, or use
:func:`edgevision.registry.create_model`, which imports only what it needs."""
