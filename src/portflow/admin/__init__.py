"""The admin address (``start --admin HOST:PORT``): ``/healthz``, ``/readyz`` and ``/metrics``.

``readiness`` decides what is ready (``/readyz`` and ``start --strict`` both ask it), ``metrics`` is the one
hop subscriber that counts for Prometheus, ``server`` is the ASGI app on the net plugin's ``serve()``, and
``run`` is the per-run directory through which ``--workers`` report to the supervisor that serves the address.
"""
