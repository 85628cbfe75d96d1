"""The catalog: what feedsvc remembers between builds and processes, in one SQLite file."""
