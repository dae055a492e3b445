/* Size and duration strings as people write them in memsafed.conf and on
 * the command line: "6G", "256K", "512M", "1048576"; "200ms", "5s", "2m". */
#ifndef MEMSAFE_SIZE_H
#define MEMSAFE_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes. Suffixes K, M, G, T (powers of 1024, optional trailing "B" or
 * "iB"), case-insensitive; a bare number is bytes. 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *ret);
/* Milliseconds. Suffixes ms, s, m, h; a bare number is milliseconds. */
int parse_duration_ms(const char *s, uint64_t *ret);
/* Format bytes as the shortest exact size string ("6G", "256K", "1000"). */
void format_size(uint64_t bytes, char *buf, size_t size);

#endif
