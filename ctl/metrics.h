/* memsafectl metrics: Prometheus text exposition of memsafed's jobs. */
#ifndef MEMSAFE_CTL_METRICS_H
#define MEMSAFE_CTL_METRICS_H

int metrics_main(int argc, char **argv);

#endif
