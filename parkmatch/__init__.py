"""The composition root: reads settings once and wires features, matcher, api and training.

Only this package may import every layer (``tests/test_architecture.py`` checks it); see
``docs/architecture.md``.
"""
