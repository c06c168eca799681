"""The one table of porscan's exit codes (every command, the scheduled job, the CLI's error handler).

====  ==========================================================================================
0     every check held on every row that was asked for
1     a check failed on what was read (a row failed, a balance mismatched, a ratio below the
      threshold); for ``schedule``: an alert is open
2     usage error: bad option, unreadable input file, config or request, database error
3     nothing failed, but the verdict is incomplete: not every balance could be read (an
      endpoint down, a chain porscan cannot read); for ``schedule``: a job failed
130   interrupted (Ctrl-C, SIGTERM)
====  ==========================================================================================
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# the scheduled job's names for the same codes
EXIT_ALERTS = EXIT_FAILED
EXIT_JOB_FAILED = EXIT_INCOMPLETE
