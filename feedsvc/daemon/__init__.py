"""`feedsvc run`, the daemon: when to build (watch, schedule), the process that builds (run),
and what systemd hears (systemd). Importing the package loads none of their libraries."""
