// fuzz-sources: syncd/proto.c syncd/manifest.c syncd/tree.c
/*
 * fuzz_frame.c: the syncd frame parser (what `syncd --serve` reads from the network):
 * framing, every frame type's decoder, MANIFEST entries, path validation, and an
 * encode/decode round trip of what decoded cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../syncd/manifest.h"
#include "../../syncd/proto.h"

static void roundtrip(const struct proto_msg *m)
{
    struct proto_buf b = {0};
    int rc = -1;
    switch (m->type) {
    case PT_PUT:
        rc = proto_put_put(&b, m->path, m->mode, m->uid, m->gid, m->mtime_ns, m->size);
        break;
    case PT_RENAME:
        rc = proto_put_rename(&b, m->path, m->path2, m->size, m->mtime_ns);
        break;
    case PT_HELLO:
        rc = proto_put_hello(&b, m->cluster, m->node, m->epoch);
        break;
    default:
        break;
    }
    if (rc == 0) {
        uint8_t type;
        const uint8_t *p;
        size_t len;
        static struct proto_msg again;
        char err[128];
        if (proto_next_frame(&b, &type, &p, &len) != 1 || type != m->type ||
            proto_decode(type, p, len, &again, err, sizeof(err)) < 0 ||
            strcmp(again.path, m->path) || again.size != m->size ||
            again.epoch != m->epoch || strcmp(again.cluster, m->cluster))
            abort();
    }
    proto_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_buf in = {0};
    static struct proto_msg m;
    static struct proto_entry e;
    char err[256];
    /* Fed in two pieces, as reads from a socket would deliver it. */
    size_t half = size / 2;
    for (int piece = 0; piece < 2; piece++) {
        if (proto_buf_append(&in, piece ? data + half : data, piece ? size - half : half) < 0)
            break;
        uint8_t type;
        const uint8_t *p;
        size_t len;
        int r;
        while ((r = proto_next_frame(&in, &type, &p, &len)) == 1) {
            if (proto_decode(type, p, len, &m, err, sizeof(err)) == 0) {
                proto_path_ok(m.path);
                proto_path_ok(m.path2);
                proto_path_under(m.path, m.path2);
                manifest_excluded(NULL, m.path);
                if (type == PT_MANIFEST) {
                    const uint8_t *d = m.data;
                    size_t dl = m.data_len;
                    while (proto_next_entry(&d, &dl, &e) == 1)
                        if (!proto_path_ok(e.path))
                            abort();   /* entries are validated */
                }
                roundtrip(&m);
            }
            proto_buf_consume(&in, PROTO_HDR + len);
        }
        if (r < 0)
            break;
    }
    proto_buf_free(&in);
    return 0;
}
