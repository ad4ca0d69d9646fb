"""``python -m edgevision`` == the ``edgevision`` console script."""

from edgevision.cli.main import entrypoint

entrypoint()
