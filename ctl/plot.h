/* memsafectl plot: a job's memory over time, drawn with cairo. */
#ifndef MEMSAFE_CTL_PLOT_H
#define MEMSAFE_CTL_PLOT_H

int plot_main(int argc, char **argv);

#endif
