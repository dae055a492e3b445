/* memsafectl logs: where a job's artifacts are, or one of them printed. */
#ifndef MEMSAFE_CTL_LOGS_H
#define MEMSAFE_CTL_LOGS_H

int logs_main(int argc, char **argv);

#endif
