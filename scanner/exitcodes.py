"""Exit codes of the scheduled job (``porscan schedule``), shared by the scheduler and its CLI
without the CLI loading the scheduler just to build ``--help``."""

EXIT_OK, EXIT_ALERTS, EXIT_USAGE, EXIT_JOB_FAILED = 0, 1, 2, 3

# porscan scan / report: a check failed on what was read (1) is not an outage (3): rows that could
# not be read leave the verdict open, they do not make it a failure
EXIT_INCOMPLETE = 3
