/* The state directory: state_dir with its jobs/ and spool/, made when
 * missing and refused unless memsafed's own (not a link, not another
 * user's, not writable by group or others), as it writes there as root. */
#ifndef MEMSAFE_STATEDIR_H
#define MEMSAFE_STATEDIR_H

/* 0 with the paths of jobs/ and spool/ (the caller frees them), or a
 * negative errno with a sentence in *err (allocated) naming the fix. */
int statedir_open(const char *state_dir, char **ret_jobs, char **ret_spool, char **err);

#endif
