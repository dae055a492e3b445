/* memsafectl repro: the one-command reproduction of a memory problem. */
#ifndef MEMSAFE_CTL_REPRO_H
#define MEMSAFE_CTL_REPRO_H

int repro_main(int argc, char **argv);

#endif
