"""envpack-unmanaged: installed with pip, not conda (no conda-meta record)."""
import sys

__version__ = "0.1"


def main():
    print("envpack-unmanaged %s" % __version__)
    print("module: %s" % __file__)
    print("sys.prefix: %s" % sys.prefix)
    return 0
