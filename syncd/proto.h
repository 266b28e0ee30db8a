/*
 * proto.h: the syncd wire protocol between the sender (active) and `syncd --serve`
 * (standby), carried over an SSH exec channel.
 *
 * A frame is a 5-byte header -- u32 payload length (big endian), u8 type -- followed by
 * the payload. Integers are big endian; a string is u16 length + bytes (no NUL inside).
 * Paths are relative to [sync] root, '/'-separated, without "", "." or ".." components.
 * The receiver answers only HELLO (HELLO_OK or ERROR), MANIFEST_REQ (MANIFEST* then
 * MANIFEST_END), SYNC (ACK, after every earlier frame is applied and fsynced) and refusals
 * or failures (ERROR, naming the path), so everything else is pipelined. RELEASE_REQ is
 * the one read-only request: a standby's upgrade fetching the active's binaries.
 */
#ifndef SYNCD_PROTO_H
#define SYNCD_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* 2: IDNAME frames (owners by name); both ends must speak the same version. */
#define PROTO_VERSION 2
#define PROTO_HDR 5
#define PROTO_MAX_PAYLOAD (1024 * 1024 + 65536)  /* larger length fields kill the session */
#define PROTO_DATA_CHUNK (256 * 1024)
#define PROTO_PATH_MAX 4096
#define PROTO_NAME_MAX 256

enum proto_type {
    PT_HELLO = 1,         /* u32 version, str cluster, str node, u64 epoch */
    PT_HELLO_OK,          /* u32 version, str node, u64 seen_epoch, u8 flags (PF_*) */
    PT_ERROR,             /* u8 code (PE_*), str path, str message */
    PT_MANIFEST_REQ,      /* str path, u8 flags (MF_*) */
    PT_MANIFEST,          /* entries (see proto_entry) until the payload ends */
    PT_MANIFEST_END,      /* str path */
    PT_PUT,               /* str path, u32 mode, u32 uid, u32 gid, i64 mtime_ns, u64 size */
    PT_DATA,              /* raw bytes of the current PUT */
    PT_END,               /* u8 ok: 1 commit the PUT, 0 abandon it */
    PT_MKDIR,             /* str path, u32 mode, u32 uid, u32 gid, i64 mtime_ns */
    PT_SYMLINK,           /* str path, str target, u32 uid, u32 gid, i64 mtime_ns */
    PT_DELETE,            /* str path (recursive for directories) */
    PT_RENAME,            /* str from, str to, u64 size, i64 mtime_ns (file check; size=~0 none) */
    PT_SYNC,              /* u64 token */
    PT_ACK,               /* u64 token */
    PT_RECONCILED,        /* (empty) a full reconcile is complete: a rejoin is over */
    PT_IDNAME,            /* u8 kind (0 user, 1 group), u32 id, str name: either direction,
                             before the first frame that uses the id (syncd/idmap.h) */
    PT_RELEASE_REQ,       /* str cluster: instead of HELLO, ask for this node's installed
                             binaries (common/release.h); answered by PUT, DATA..., END per
                             file (or ERROR), then MANIFEST_END "", and the session ends */
    PT_MAX_TYPE
};

/* HELLO_OK flags */
#define PF_REJOIN 0x01    /* receiver was active before: differing files go to conflicts */
#define PF_OWNERS 0x02    /* receiver can set owners (runs as root) */
#define PF_NO_SETID 0x04  /* receiver strips setuid/setgid bits: compare modes without them */

/* MANIFEST_REQ flags */
#define MF_HASH 0x01      /* include the SHA-256 of every regular file */

/* ERROR codes */
enum proto_err {
    PE_REFUSED = 1,       /* hostile or forbidden: logged, never retried */
    PE_FAILED = 2,        /* could not apply (e.g. rename source missing): sender re-checks */
    PE_FATAL = 3,         /* session is over (bad epoch, protocol violation) */
};

enum proto_kind { PK_FILE = 1, PK_DIR = 2, PK_SYMLINK = 3 };

struct proto_entry {
    char path[PROTO_PATH_MAX];
    uint8_t kind;
    uint32_t mode, uid, gid;
    int64_t mtime_ns;
    uint64_t size;
    char target[PROTO_PATH_MAX];     /* symlinks */
    uint8_t has_hash;
    uint8_t hash[32];                /* SHA-256 of a file's content, if asked for */
};

/* A decoded frame; strings are NUL-terminated copies. */
struct proto_msg {
    uint8_t type;
    uint32_t version, mode, uid, gid;
    uint64_t epoch, size, token;
    int64_t mtime_ns;
    uint8_t flags, code, ok;
    char cluster[PROTO_NAME_MAX];
    char node[PROTO_NAME_MAX];
    char path[PROTO_PATH_MAX];
    char path2[PROTO_PATH_MAX];      /* RENAME to, SYMLINK target, ERROR message */
                                     /* IDNAME: kind in flags, id in uid, name in node */
    const uint8_t *data;             /* DATA bytes, MANIFEST entries (into the payload) */
    size_t data_len;
};

/* Growable byte buffer: outgoing frames, incoming bytes. */
struct proto_buf {
    uint8_t *data;
    size_t off, len, cap;            /* unread bytes are data[off..len) */
};

void proto_buf_free(struct proto_buf *b);
int proto_buf_reserve(struct proto_buf *b, size_t more);
int proto_buf_append(struct proto_buf *b, const void *p, size_t n);
void proto_buf_consume(struct proto_buf *b, size_t n);
static inline size_t proto_buf_used(const struct proto_buf *b) { return b->len - b->off; }

/*
 * Next complete frame in b: returns 1 and sets type/payload/len (valid until the next
 * consume), 0 if more bytes are needed, -1 if the header is invalid (length too large,
 * unknown type): the stream cannot be resynchronised.
 */
int proto_next_frame(struct proto_buf *b, uint8_t *type, const uint8_t **payload, size_t *len);

/* Decodes a payload. Returns 0, or -1 with a reason in err (truncated, bad string...). */
int proto_decode(uint8_t type, const uint8_t *p, size_t len, struct proto_msg *m, char *err,
                 size_t errlen);
/* Iterates MANIFEST entries: returns 1 with e filled, 0 at the end, -1 on a bad entry. */
int proto_next_entry(const uint8_t **p, size_t *len, struct proto_entry *e);

/* Encoders append one whole frame to out; -1 only if out of memory or a string is too long. */
int proto_put_hello(struct proto_buf *o, const char *cluster, const char *node, uint64_t epoch);
int proto_put_hello_ok(struct proto_buf *o, const char *node, uint64_t seen, uint8_t flags);
int proto_put_error(struct proto_buf *o, uint8_t code, const char *path, const char *msg);
int proto_put_path(struct proto_buf *o, uint8_t type, const char *path); /* MANIFEST_END, DELETE */
int proto_put_manifest_req(struct proto_buf *o, const char *path, uint8_t flags);
int proto_put_put(struct proto_buf *o, const char *path, uint32_t mode, uint32_t uid,
                  uint32_t gid, int64_t mtime_ns, uint64_t size);
/* Reserves a DATA frame of n bytes and returns where to write them (then it is final). */
uint8_t *proto_put_data(struct proto_buf *o, size_t n);
/* Shrinks the DATA frame just reserved to n bytes (n <= reserved). */
void proto_trim_data(struct proto_buf *o, uint8_t *start, size_t reserved, size_t n);
int proto_put_end(struct proto_buf *o, int ok);
int proto_put_mkdir(struct proto_buf *o, const char *path, uint32_t mode, uint32_t uid,
                    uint32_t gid, int64_t mtime_ns);
int proto_put_symlink(struct proto_buf *o, const char *path, const char *target, uint32_t uid,
                      uint32_t gid, int64_t mtime_ns);
int proto_put_rename(struct proto_buf *o, const char *from, const char *to, uint64_t size,
                     int64_t mtime_ns);
int proto_put_token(struct proto_buf *o, uint8_t type, uint64_t token); /* SYNC, ACK */
int proto_put_empty(struct proto_buf *o, uint8_t type);                  /* RECONCILED */
int proto_put_idname(struct proto_buf *o, uint8_t kind, uint32_t id, const char *name);
/* MANIFEST frames: entries are appended to an open frame, a new one started when full. */
int proto_put_entry(struct proto_buf *o, size_t *frame_start, const struct proto_entry *e);

/*
 * A path the receiver may touch: relative, '/'-separated, no empty, "." or ".." component,
 * no NUL, shorter than PROTO_PATH_MAX. Returns 1 if acceptable.
 */
int proto_path_ok(const char *path);
/* Is path equal to dir or below it? ("" is the root and contains everything.) */
int proto_path_under(const char *path, const char *dir);

const char *proto_type_name(uint8_t type);

#endif
