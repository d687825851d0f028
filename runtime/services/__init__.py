"""The three tool services (records, directory, knowledge) and the state they share per run."""
