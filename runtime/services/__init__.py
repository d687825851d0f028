"""The two tool services (records, directory) and the state they share per run."""
