"""The command-line room: ``structops`` and its commands.

:mod:`.main` builds the parser (each command in a module of its own) and maps
the error tree onto exit statuses; commands import what they need only when
they run, so ``structops --help`` stays cheap. The CLI converts names given
on the command line (profiles, CPU presets) into objects once; everything
below it takes :class:`~kernel_model.profile.Profile` objects.
"""

from __future__ import annotations

from .main import EXIT_BAD_INPUT, EXIT_NOT_MODELLED, EXIT_OK, EXIT_REFUSED, build_parser, exit_status, main, one_line

__all__ = ["main", "exit_status", "one_line", "build_parser", "EXIT_OK", "EXIT_REFUSED", "EXIT_BAD_INPUT",
           "EXIT_NOT_MODELLED"]
