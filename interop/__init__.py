"""snn-interop: exact conversion of spiking neural networks between frameworks via NIR.

The core (this package) never imports a framework. Framework knowledge lives in plugins,
reached through :mod:`snn_interop.registry`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("snn-interop")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__"]
