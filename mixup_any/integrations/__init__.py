"""Integrations with other libraries, each a leaf module named after its extra.

Importing this package imports nothing heavy; import the leaf you need, e.g. ``mixup_any.integrations.hf``.
"""
