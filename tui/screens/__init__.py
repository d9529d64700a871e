"""The dashboard's screens, one per file: the runs list, one run, the key help."""
