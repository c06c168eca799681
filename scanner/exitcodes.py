"""Exit codes of the scheduled job (``porscan schedule``), shared by the scheduler and its CLI
without the CLI loading the scheduler just to build ``--help``."""

EXIT_OK, EXIT_ALERTS, EXIT_USAGE, EXIT_JOB_FAILED = 0, 1, 2, 3
