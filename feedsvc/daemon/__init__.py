"""`feedsvc run`, the daemon: when to build (watch, schedule), the process that builds (run),
and what systemd hears (systemd).

Importing the package loads none of their libraries: `feedsvc.config` reads the rescan
setting with `feedsvc.daemon.rescan`, and the other commands must not pay for the daemon's.
"""
