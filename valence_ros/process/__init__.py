"""The process around every valence_ros executable: how it starts, stops and fails.

Standard library only (an import contract in setup.cfg enforces it, and the package
root imports nothing heavy), so an executable can use it from its first line, before
the imports that take a few hundred ms:

    stop_requests  SIGINT/SIGTERM recorded as stop requests, never raised (the nodes,
                   from the executable's first line on, and the demo programs)
    cli_errors     the one-line "prog: error: ..." message of a program that gives up
"""
