"""Built-in framework plugins of snn-interop, one module per framework.

They are registered under the entry-point group ``snn_interop.plugins`` in pyproject.toml
exactly as a third-party plugin would be, and only these modules import a framework.
"""
