"""Command-line interface: thin wrappers over the public Python API."""
