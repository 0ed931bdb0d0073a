"""snn-interop: exact conversion of spiking neural networks between frameworks via NIR.

The core (this package) never imports a framework. Framework knowledge lives in plugins,
reached through :mod:`snn_interop.registry`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("snn-interop")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__", "convert"]


def __getattr__(name: str):  # noqa: ANN202 - lazy: `import snn_interop` stays light
    if name == "convert":
        from snn_interop.conversion import convert

        return convert
    raise AttributeError(name)
