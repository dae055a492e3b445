/* Fail fast on a broken setup: before memsafed accepts a single job (and
 * before a reload takes effect), the worker user and binary it would start
 * every job with are checked, so that no job is accepted that is certain
 * to fail. */
#ifndef MEMSAFE_PREFLIGHT_H
#define MEMSAFE_PREFLIGHT_H

#include "config.h"

/* 0 when cfg can start workers. Otherwise a negative errno and *err (the
 * caller frees it): what is wrong and how to fix it, the diagnosis
 * `memsafectl doctor` prints. Also logs a warning (and nothing else
 * changes) when admin_group is the group of the socket, which makes
 * every user who may connect an administrator. */
int preflight_check(const struct config *cfg, char **err);

#endif
