"""The console entry point, kept free of heavy imports so `deployctl --version` is instant."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from deployd import __version__

        print(f"deployctl {__version__}")
        return
    from deployctl.cli import run

    run()


if __name__ == "__main__":
    main()
