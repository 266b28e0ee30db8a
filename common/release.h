/*
 * release.h: what an upgrade carries (DESIGN §8) — hotstandby's binaries, installed side
 * by side in one directory (the one the running daemons were started from). The active
 * publishes their checksums (hotstandby-clone publish), `syncd --serve` hands them out
 * read-only, and a standby installs them only when every one matches (hotstandby-clone
 * upgrade). Nothing else is ever named: a manifest or a stream cannot add a file.
 */
#ifndef HS_RELEASE_H
#define HS_RELEASE_H

#include <stdint.h>
#include <sys/stat.h>

#define RELEASE_NFILES 6
extern const char *const release_files[RELEASE_NFILES];

/* Index of name in release_files, or -1. */
int release_index(const char *name);
/* Opens name below dirfd read-only: a regular file, not a symlink. fd, or -1 with errno. */
int release_open(int dirfd, const char *name, struct stat *st);
/* SHA-256 (hex) and size of what fd holds from offset 0. 0, or -1 with errno. */
int release_hash_fd(int fd, char hex[65], uint64_t *size);
/* The same of a buffer. */
void release_hash_mem(const void *data, size_t len, char hex[65]);

#endif
