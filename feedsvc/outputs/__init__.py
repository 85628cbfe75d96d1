"""Where published files go: sinks (the local directory, memory) behind one interface."""
