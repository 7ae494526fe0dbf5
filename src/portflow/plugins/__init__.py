"""The built-in plugins: ctrl, net, sql, testing, system. Each exposes ``register(scheme, languages, hooks)``."""
