/* io.h: file I/O that STYLE asks of every read and write, written once. */
#ifndef HS_IO_H
#define HS_IO_H

#include <stddef.h>

/* Writes all len bytes (short counts and EINTR handled). 0, or -1 with errno. */
int io_write_all(int fd, const void *buf, size_t len);

#endif
