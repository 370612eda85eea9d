"""The shipped model configs (YAML data), installed as the package ``bert_hub.configs``.

Code reads them with ``importlib.resources`` (see ``bert_hub.core.config.shipped_configs``).
"""
