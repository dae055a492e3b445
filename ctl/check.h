/* memsafectl check: CI assertions on a job's summary.json. */
#ifndef MEMSAFE_CTL_CHECK_H
#define MEMSAFE_CTL_CHECK_H

int check_main(int argc, char **argv);

#endif
