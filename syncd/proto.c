/*
 * proto.c: framing, encoding and bounds-checked decoding of the syncd protocol
 * (see proto.h). Nothing here does I/O; the fuzzer drives proto_next_frame,
 * proto_decode and proto_next_entry with arbitrary bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void proto_buf_free(struct proto_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int proto_buf_reserve(struct proto_buf *b, size_t more)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + more <= b->cap)
        return 0;
    if (b->off > 0) {            /* compact before growing */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

int proto_buf_append(struct proto_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (proto_buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void proto_buf_consume(struct proto_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

/* ---- encoding ---- */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

/*
 * A frame being encoded. start is relative to o->off: appending may compact the buffer
 * (moving unsent bytes to the front), which shifts absolute offsets but not relative ones.
 */
struct enc {
    struct proto_buf *o;
    size_t start;
    int bad;
};

static void enc_begin(struct enc *e, struct proto_buf *o, uint8_t type)
{
    e->o = o;
    e->bad = proto_buf_reserve(o, PROTO_HDR) < 0;
    e->start = o->len - o->off;
    if (!e->bad) {
        o->data[o->len + 4] = type;
        o->len += PROTO_HDR;
    }
}

static void enc_raw(struct enc *e, const void *p, size_t n)
{
    if (!e->bad && proto_buf_append(e->o, p, n) < 0)
        e->bad = 1;
}

static void enc_u8(struct enc *e, uint8_t v) { enc_raw(e, &v, 1); }
static void enc_u32(struct enc *e, uint32_t v) { uint8_t b[4]; be32(b, v); enc_raw(e, b, 4); }
static void enc_u64(struct enc *e, uint64_t v) { uint8_t b[8]; be64(b, v); enc_raw(e, b, 8); }

static void enc_str(struct enc *e, const char *s)
{
    size_t n = strlen(s);
    if (n > 0xffff) {
        e->bad = 1;
        return;
    }
    uint8_t b[2] = {n >> 8, n & 0xff};
    enc_raw(e, b, 2);
    enc_raw(e, s, n);
}

static int enc_end(struct enc *e)
{
    size_t start = e->o->off + e->start;
    if (e->bad) {
        if (e->o->len >= start + PROTO_HDR)
            e->o->len = start;
        return -1;
    }
    be32(e->o->data + start, (uint32_t)(e->o->len - start - PROTO_HDR));
    return 0;
}

int proto_put_hello(struct proto_buf *o, const char *cluster, const char *node, uint64_t epoch)
{
    struct enc e;
    enc_begin(&e, o, PT_HELLO);
    enc_u32(&e, PROTO_VERSION);
    enc_str(&e, cluster);
    enc_str(&e, node);
    enc_u64(&e, epoch);
    return enc_end(&e);
}

int proto_put_hello_ok(struct proto_buf *o, const char *node, uint64_t seen, uint8_t flags)
{
    struct enc e;
    enc_begin(&e, o, PT_HELLO_OK);
    enc_u32(&e, PROTO_VERSION);
    enc_str(&e, node);
    enc_u64(&e, seen);
    enc_u8(&e, flags);
    return enc_end(&e);
}

int proto_put_error(struct proto_buf *o, uint8_t code, const char *path, const char *msg)
{
    struct enc e;
    enc_begin(&e, o, PT_ERROR);
    enc_u8(&e, code);
    enc_str(&e, path);
    enc_str(&e, msg);
    return enc_end(&e);
}

int proto_put_path(struct proto_buf *o, uint8_t type, const char *path)
{
    struct enc e;
    enc_begin(&e, o, type);
    enc_str(&e, path);
    return enc_end(&e);
}

int proto_put_manifest_req(struct proto_buf *o, const char *path, uint8_t flags)
{
    struct enc e;
    enc_begin(&e, o, PT_MANIFEST_REQ);
    enc_str(&e, path);
    enc_u8(&e, flags);
    return enc_end(&e);
}

int proto_put_put(struct proto_buf *o, const char *path, uint32_t mode, uint32_t uid,
                  uint32_t gid, int64_t mtime_ns, uint64_t size)
{
    struct enc e;
    enc_begin(&e, o, PT_PUT);
    enc_str(&e, path);
    enc_u32(&e, mode);
    enc_u32(&e, uid);
    enc_u32(&e, gid);
    enc_u64(&e, (uint64_t)mtime_ns);
    enc_u64(&e, size);
    return enc_end(&e);
}

uint8_t *proto_put_data(struct proto_buf *o, size_t n)
{
    if (proto_buf_reserve(o, PROTO_HDR + n) < 0)
        return NULL;
    uint8_t *h = o->data + o->len;
    be32(h, (uint32_t)n);
    h[4] = PT_DATA;
    o->len += PROTO_HDR + n;
    return h + PROTO_HDR;
}

void proto_trim_data(struct proto_buf *o, uint8_t *start, size_t reserved, size_t n)
{
    be32(start - PROTO_HDR, (uint32_t)n);
    o->len -= reserved - n;
}

int proto_put_end(struct proto_buf *o, int ok)
{
    struct enc e;
    enc_begin(&e, o, PT_END);
    enc_u8(&e, ok ? 1 : 0);
    return enc_end(&e);
}

int proto_put_mkdir(struct proto_buf *o, const char *path, uint32_t mode, uint32_t uid,
                    uint32_t gid, int64_t mtime_ns)
{
    struct enc e;
    enc_begin(&e, o, PT_MKDIR);
    enc_str(&e, path);
    enc_u32(&e, mode);
    enc_u32(&e, uid);
    enc_u32(&e, gid);
    enc_u64(&e, (uint64_t)mtime_ns);
    return enc_end(&e);
}

int proto_put_symlink(struct proto_buf *o, const char *path, const char *target, uint32_t uid,
                      uint32_t gid, int64_t mtime_ns)
{
    struct enc e;
    enc_begin(&e, o, PT_SYMLINK);
    enc_str(&e, path);
    enc_str(&e, target);
    enc_u32(&e, uid);
    enc_u32(&e, gid);
    enc_u64(&e, (uint64_t)mtime_ns);
    return enc_end(&e);
}

int proto_put_rename(struct proto_buf *o, const char *from, const char *to, uint64_t size,
                     int64_t mtime_ns)
{
    struct enc e;
    enc_begin(&e, o, PT_RENAME);
    enc_str(&e, from);
    enc_str(&e, to);
    enc_u64(&e, size);
    enc_u64(&e, (uint64_t)mtime_ns);
    return enc_end(&e);
}

int proto_put_token(struct proto_buf *o, uint8_t type, uint64_t token)
{
    struct enc e;
    enc_begin(&e, o, type);
    enc_u64(&e, token);
    return enc_end(&e);
}

int proto_put_empty(struct proto_buf *o, uint8_t type)
{
    struct enc e;
    enc_begin(&e, o, type);
    return enc_end(&e);
}

int proto_put_idname(struct proto_buf *o, uint8_t kind, uint32_t id, const char *name)
{
    struct enc e;
    enc_begin(&e, o, PT_IDNAME);
    enc_u8(&e, kind);
    enc_u32(&e, id);
    enc_str(&e, name);
    return enc_end(&e);
}

/* Appends e to the MANIFEST frame at *frame_start (relative to o->off; SIZE_MAX: none). */
int proto_put_entry(struct proto_buf *o, size_t *frame_start, const struct proto_entry *ent)
{
    size_t need = 2 + strlen(ent->path) + 1 + 4 * 3 + 8 * 2 + 2 + strlen(ent->target) + 33;
    if (*frame_start == (size_t)-1 ||
        o->len - o->off - *frame_start - PROTO_HDR + need > 256 * 1024) {
        struct enc e;
        enc_begin(&e, o, PT_MANIFEST);
        if (enc_end(&e) < 0)
            return -1;
        *frame_start = o->len - o->off - PROTO_HDR;
    }
    struct enc e = {.o = o, .start = *frame_start};
    enc_str(&e, ent->path);
    enc_u8(&e, ent->kind);
    enc_u32(&e, ent->mode);
    enc_u32(&e, ent->uid);
    enc_u32(&e, ent->gid);
    enc_u64(&e, (uint64_t)ent->mtime_ns);
    enc_u64(&e, ent->size);
    enc_str(&e, ent->target);
    enc_u8(&e, ent->has_hash ? 32 : 0);
    if (ent->has_hash)
        enc_raw(&e, ent->hash, 32);
    return enc_end(&e);
}

/* ---- decoding ---- */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

int proto_next_frame(struct proto_buf *b, uint8_t *type, const uint8_t **payload, size_t *len)
{
    size_t avail = proto_buf_used(b);
    if (avail < PROTO_HDR)
        return 0;
    const uint8_t *h = b->data + b->off;
    uint32_t n = rd32(h);
    if (n > PROTO_MAX_PAYLOAD || h[4] == 0 || h[4] >= PT_MAX_TYPE)
        return -1;
    if (avail < PROTO_HDR + (size_t)n)
        return 0;
    *type = h[4];
    *payload = h + PROTO_HDR;
    *len = n;
    return 1;
}

struct dec {
    const uint8_t *p;
    size_t len;
    int bad;
};

static const uint8_t *dec_take(struct dec *d, size_t n)
{
    if (d->bad || d->len < n) {
        d->bad = 1;
        return NULL;
    }
    const uint8_t *r = d->p;
    d->p += n;
    d->len -= n;
    return r;
}

static uint8_t dec_u8(struct dec *d) { const uint8_t *p = dec_take(d, 1); return p ? *p : 0; }
static uint32_t dec_u32(struct dec *d) { const uint8_t *p = dec_take(d, 4); return p ? rd32(p) : 0; }
static uint64_t dec_u64(struct dec *d) { const uint8_t *p = dec_take(d, 8); return p ? rd64(p) : 0; }

/* A string into a NUL-terminated buffer; NUL bytes and overlong strings are invalid. */
static void dec_str(struct dec *d, char *out, size_t outlen)
{
    const uint8_t *lp = dec_take(d, 2);
    if (!lp)
        return;
    size_t n = (size_t)lp[0] << 8 | lp[1];
    const uint8_t *s = dec_take(d, n);
    if (!s || n >= outlen || memchr(s, '\0', n)) {
        d->bad = 1;
        return;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

int proto_next_entry(const uint8_t **p, size_t *len, struct proto_entry *e)
{
    if (*len == 0)
        return 0;
    struct dec d = {*p, *len, 0};
    dec_str(&d, e->path, sizeof(e->path));
    e->kind = dec_u8(&d);
    e->mode = dec_u32(&d);
    e->uid = dec_u32(&d);
    e->gid = dec_u32(&d);
    e->mtime_ns = (int64_t)dec_u64(&d);
    e->size = dec_u64(&d);
    dec_str(&d, e->target, sizeof(e->target));
    uint8_t hlen = dec_u8(&d);
    const uint8_t *h = hlen == 32 ? dec_take(&d, 32) : NULL;
    e->has_hash = h != NULL;
    if (h)
        memcpy(e->hash, h, 32);
    if (d.bad || (hlen != 0 && hlen != 32) || e->kind < PK_FILE || e->kind > PK_SYMLINK || !proto_path_ok(e->path))
        return -1;
    *p = d.p;
    *len = d.len;
    return 1;
}

int proto_decode(uint8_t type, const uint8_t *p, size_t len, struct proto_msg *m, char *err,
                 size_t errlen)
{
    struct dec d = {p, len, 0};
    memset(m, 0, offsetof(struct proto_msg, cluster));
    m->cluster[0] = m->node[0] = m->path[0] = m->path2[0] = '\0';
    m->data = NULL;
    m->data_len = 0;
    m->type = type;
    switch (type) {
    case PT_HELLO:
        m->version = dec_u32(&d);
        dec_str(&d, m->cluster, sizeof(m->cluster));
        dec_str(&d, m->node, sizeof(m->node));
        m->epoch = dec_u64(&d);
        break;
    case PT_HELLO_OK:
        m->version = dec_u32(&d);
        dec_str(&d, m->node, sizeof(m->node));
        m->epoch = dec_u64(&d);
        m->flags = dec_u8(&d);
        break;
    case PT_ERROR:
        m->code = dec_u8(&d);
        dec_str(&d, m->path, sizeof(m->path));
        dec_str(&d, m->path2, sizeof(m->path2));
        break;
    case PT_MANIFEST_REQ:
        dec_str(&d, m->path, sizeof(m->path));
        m->flags = dec_u8(&d);
        break;
    case PT_MANIFEST_END:
    case PT_DELETE:
    case PT_RELEASE_REQ:
        dec_str(&d, m->path, sizeof(m->path));
        break;
    case PT_MANIFEST:
    case PT_DATA:
        m->data = p;
        m->data_len = len;
        d.len = 0;
        break;
    case PT_PUT:
        dec_str(&d, m->path, sizeof(m->path));
        m->mode = dec_u32(&d);
        m->uid = dec_u32(&d);
        m->gid = dec_u32(&d);
        m->mtime_ns = (int64_t)dec_u64(&d);
        m->size = dec_u64(&d);
        break;
    case PT_END:
        m->ok = dec_u8(&d);
        break;
    case PT_MKDIR:
        dec_str(&d, m->path, sizeof(m->path));
        m->mode = dec_u32(&d);
        m->uid = dec_u32(&d);
        m->gid = dec_u32(&d);
        m->mtime_ns = (int64_t)dec_u64(&d);
        break;
    case PT_SYMLINK:
        dec_str(&d, m->path, sizeof(m->path));
        dec_str(&d, m->path2, sizeof(m->path2));
        m->uid = dec_u32(&d);
        m->gid = dec_u32(&d);
        m->mtime_ns = (int64_t)dec_u64(&d);
        break;
    case PT_RENAME:
        dec_str(&d, m->path, sizeof(m->path));
        dec_str(&d, m->path2, sizeof(m->path2));
        m->size = dec_u64(&d);
        m->mtime_ns = (int64_t)dec_u64(&d);
        break;
    case PT_SYNC:
    case PT_ACK:
        m->token = dec_u64(&d);
        break;
    case PT_RECONCILED:
        break;
    case PT_IDNAME:
        m->flags = dec_u8(&d);
        m->uid = dec_u32(&d);
        dec_str(&d, m->node, sizeof(m->node));
        break;
    default:
        snprintf(err, errlen, "unknown frame type %u", type);
        return -1;
    }
    if (d.bad) {
        snprintf(err, errlen, "%s frame truncated or malformed", proto_type_name(type));
        return -1;
    }
    if (d.len) {
        snprintf(err, errlen, "%s frame has %zu trailing bytes", proto_type_name(type), d.len);
        return -1;
    }
    return 0;
}

int proto_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n >= PROTO_PATH_MAX || path[0] == '/')
        return 0;
    const char *c = path;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t clen = slash ? (size_t)(slash - c) : strlen(c);
        if (clen == 0 || clen > 255 || (clen == 1 && c[0] == '.') ||
            (clen == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (!slash)
            return 1;
        c = slash + 1;
    }
}

int proto_path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 0)
        return 1;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const char *proto_type_name(uint8_t type)
{
    static const char *names[PT_MAX_TYPE] = {
        [PT_HELLO] = "HELLO", [PT_HELLO_OK] = "HELLO_OK", [PT_ERROR] = "ERROR",
        [PT_MANIFEST_REQ] = "MANIFEST_REQ", [PT_MANIFEST] = "MANIFEST",
        [PT_MANIFEST_END] = "MANIFEST_END", [PT_PUT] = "PUT", [PT_DATA] = "DATA",
        [PT_END] = "END", [PT_MKDIR] = "MKDIR", [PT_SYMLINK] = "SYMLINK",
        [PT_DELETE] = "DELETE", [PT_RENAME] = "RENAME", [PT_SYNC] = "SYNC", [PT_ACK] = "ACK",
        [PT_RECONCILED] = "RECONCILED", [PT_IDNAME] = "IDNAME",
        [PT_RELEASE_REQ] = "RELEASE_REQ",
    };
    return type < PT_MAX_TYPE && names[type] ? names[type] : "?";
}
