/* memsafectl watch: follow one job live until it ends. */
#ifndef MEMSAFE_CTL_WATCH_H
#define MEMSAFE_CTL_WATCH_H

int watch_main(int argc, char **argv);

#endif
