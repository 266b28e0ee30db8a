/*
 * test_proto.c: the syncd wire format (syncd/proto.c): every frame type round-trips,
 * frames split at every byte boundary reassemble, and malformed input (oversized or
 * unknown headers, truncated payloads, trailing bytes, NUL in strings, bad paths) is
 * rejected rather than misread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../syncd/proto.h"

static struct proto_msg m;   /* large: off the stack */
static char err[256];

/* Decodes the single frame in b into m. */
static int decode_one(struct proto_buf *b)
{
    uint8_t type;
    const uint8_t *p;
    size_t len;
    if (proto_next_frame(b, &type, &p, &len) != 1)
        return -2;
    int rc = proto_decode(type, p, len, &m, err, sizeof(err));
    proto_buf_consume(b, PROTO_HDR + len);
    return rc;
}

static void test_roundtrip(void **state)
{
    struct proto_buf b = {0};
    assert_int_equal(proto_put_hello(&b, "clu", "a", 42), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_int_equal(m.type, PT_HELLO);
    assert_int_equal(m.version, PROTO_VERSION);
    assert_string_equal(m.cluster, "clu");
    assert_string_equal(m.node, "a");
    assert_int_equal(m.epoch, 42);

    assert_int_equal(proto_put_put(&b, "data/x", 04755, 1, 2, -5, UINT64_C(1) << 40), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_int_equal(m.type, PT_PUT);
    assert_string_equal(m.path, "data/x");
    assert_int_equal(m.mode, 04755);
    assert_int_equal(m.uid, 1);
    assert_int_equal(m.gid, 2);
    assert_int_equal(m.mtime_ns, -5);
    assert_int_equal(m.size, UINT64_C(1) << 40);

    uint8_t *d = proto_put_data(&b, 10);
    memcpy(d, "0123456789", 10);
    proto_trim_data(&b, d, 10, 4);
    assert_int_equal(decode_one(&b), 0);
    assert_int_equal(m.type, PT_DATA);
    assert_int_equal(m.data_len, 4);

    assert_int_equal(proto_put_rename(&b, "data/a", "data/b", 7, 8), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_string_equal(m.path, "data/a");
    assert_string_equal(m.path2, "data/b");
    assert_int_equal(m.size, 7);

    assert_int_equal(proto_put_symlink(&b, "data/l", "../t", 3, 4, 9), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_string_equal(m.path2, "../t");

    assert_int_equal(proto_put_error(&b, PE_REFUSED, "p", "why"), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_int_equal(m.code, PE_REFUSED);
    assert_string_equal(m.path2, "why");

    assert_int_equal(proto_put_token(&b, PT_SYNC, 99), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_int_equal(m.token, 99);
    assert_int_equal(proto_put_empty(&b, PT_RECONCILED), 0);
    assert_int_equal(decode_one(&b), 0);
    assert_int_equal(m.type, PT_RECONCILED);
    assert_int_equal(proto_buf_used(&b), 0);
    proto_buf_free(&b);
}

static void test_split_frames(void **state)
{
    struct proto_buf src = {0};
    proto_put_hello(&src, "c", "n", 1);
    proto_put_put(&src, "data/f", 0644, 0, 0, 0, 3);
    memcpy(proto_put_data(&src, 3), "abc", 3);
    proto_put_end(&src, 1);
    size_t total = proto_buf_used(&src);
    /* Every split point: the first part alone never yields a wrong frame. */
    for (size_t cut = 0; cut <= total; cut++) {
        struct proto_buf in = {0};
        proto_buf_append(&in, src.data, cut);
        int frames = 0;
        uint8_t type;
        const uint8_t *p;
        size_t len;
        while (proto_next_frame(&in, &type, &p, &len) == 1) {
            assert_int_equal(proto_decode(type, p, len, &m, err, sizeof(err)), 0);
            proto_buf_consume(&in, PROTO_HDR + len);
            frames++;
        }
        proto_buf_append(&in, src.data + cut, total - cut);
        while (proto_next_frame(&in, &type, &p, &len) == 1) {
            assert_int_equal(proto_decode(type, p, len, &m, err, sizeof(err)), 0);
            proto_buf_consume(&in, PROTO_HDR + len);
            frames++;
        }
        assert_int_equal(frames, 4);
        proto_buf_free(&in);
    }
    proto_buf_free(&src);
}

static void test_bad_headers(void **state)
{
    struct proto_buf b = {0};
    uint8_t type;
    const uint8_t *p;
    size_t len;
    uint8_t huge[5] = {0xff, 0xff, 0xff, 0xf0, PT_DATA};
    proto_buf_append(&b, huge, 5);
    assert_int_equal(proto_next_frame(&b, &type, &p, &len), -1);
    proto_buf_free(&b);
    uint8_t badtype[5] = {0, 0, 0, 0, 200};
    proto_buf_append(&b, badtype, 5);
    assert_int_equal(proto_next_frame(&b, &type, &p, &len), -1);
    proto_buf_free(&b);
    uint8_t zero[5] = {0, 0, 0, 0, 0};
    proto_buf_append(&b, zero, 5);
    assert_int_equal(proto_next_frame(&b, &type, &p, &len), -1);
    proto_buf_free(&b);
    uint8_t partial[4] = {0, 0, 0, 1};
    proto_buf_append(&b, partial, 4);
    assert_int_equal(proto_next_frame(&b, &type, &p, &len), 0);
    proto_buf_free(&b);
}

static void test_bad_payloads(void **state)
{
    /* PUT truncated at every length */
    struct proto_buf b = {0};
    proto_put_put(&b, "data/x", 0644, 0, 0, 0, 1);
    const uint8_t *pl = b.data + PROTO_HDR;
    size_t full = proto_buf_used(&b) - PROTO_HDR;
    for (size_t n = 0; n < full; n++)
        assert_int_equal(proto_decode(PT_PUT, pl, n, &m, err, sizeof(err)), -1);
    assert_int_equal(proto_decode(PT_PUT, pl, full, &m, err, sizeof(err)), 0);
    proto_buf_free(&b);

    /* trailing bytes */
    uint8_t sync[9] = {0, 0, 0, 0, 0, 0, 0, 1, 0xaa};
    assert_int_equal(proto_decode(PT_SYNC, sync, 9, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "trailing"));
    /* NUL inside a string */
    uint8_t del[5] = {0, 3, 'a', 0, 'b'};
    assert_int_equal(proto_decode(PT_DELETE, del, 5, &m, err, sizeof(err)), -1);
    /* string longer than its buffer */
    size_t n = 2 + PROTO_PATH_MAX;
    uint8_t *big = calloc(1, n);
    big[0] = PROTO_PATH_MAX >> 8;
    big[1] = PROTO_PATH_MAX & 0xff;
    memset(big + 2, 'a', PROTO_PATH_MAX);
    assert_int_equal(proto_decode(PT_DELETE, big, n, &m, err, sizeof(err)), -1);
    free(big);
}

static void test_paths(void **state)
{
    assert_true(proto_path_ok("data"));
    assert_true(proto_path_ok("data/a/b.c"));
    assert_true(proto_path_ok("data/..x/.y"));
    assert_false(proto_path_ok(""));
    assert_false(proto_path_ok("/etc/passwd"));
    assert_false(proto_path_ok(".."));
    assert_false(proto_path_ok("data/../x"));
    assert_false(proto_path_ok("data/.."));
    assert_false(proto_path_ok("./data"));
    assert_false(proto_path_ok("data//x"));
    assert_false(proto_path_ok("data/"));
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(proto_path_ok(longname));   /* component > 255 */
    assert_true(proto_path_under("data/x", "data"));
    assert_true(proto_path_under("data", "data"));
    assert_false(proto_path_under("database", "data"));
    assert_true(proto_path_under("anything", ""));
}

static void test_manifest_entries(void **state)
{
    struct proto_buf b = {0};
    size_t frame = (size_t)-1;
    static struct proto_entry e, out;
    snprintf(e.path, sizeof(e.path), "data/f");
    e.kind = PK_FILE;
    e.size = 12;
    e.mtime_ns = 77;
    for (int i = 0; i < 3000; i++)   /* spans several MANIFEST frames */
        assert_int_equal(proto_put_entry(&b, &frame, &e), 0);
    int entries = 0, frames = 0;
    uint8_t type;
    const uint8_t *p;
    size_t len;
    while (proto_next_frame(&b, &type, &p, &len) == 1) {
        assert_int_equal(type, PT_MANIFEST);
        frames++;
        const uint8_t *d = p;
        size_t dl = len;
        int r;
        while ((r = proto_next_entry(&d, &dl, &out)) == 1) {
            assert_string_equal(out.path, "data/f");
            assert_int_equal(out.size, 12);
            entries++;
        }
        assert_int_equal(r, 0);
        proto_buf_consume(&b, PROTO_HDR + len);
    }
    assert_int_equal(entries, 3000);
    assert_true(frames >= 1);
    /* an entry with a bad path is rejected */
    frame = (size_t)-1;
    snprintf(e.path, sizeof(e.path), "../x");
    proto_put_entry(&b, &frame, &e);
    assert_int_equal(proto_next_frame(&b, &type, &p, &len), 1);
    const uint8_t *d = p;
    size_t dl = len;
    assert_int_equal(proto_next_entry(&d, &dl, &out), -1);
    proto_buf_free(&b);
}

/* Frames appended while earlier bytes are half sent (off > 0) survive the buffer's
 * compaction: the bug this catches corrupted long initial syncs. */
static void test_append_after_partial_send(void **state)
{
    struct proto_buf b = {0};
    static char path[3000];
    memset(path, 'p', sizeof(path) - 1);
    memcpy(path, "data/", 5);
    for (int round = 0; round < 200; round++) {
        assert_int_equal(proto_put_put(&b, path, 0644, 1, 2, round, (uint64_t)round), 0);
        /* "send" a few bytes so that off > 0 when the next frame makes it grow */
        size_t sent = proto_buf_used(&b) > 7 ? 7 : 0;
        static uint8_t wire[1 << 22];
        static size_t wire_len;
        if (round == 0)
            wire_len = 0;
        memcpy(wire + wire_len, b.data + b.off, sent);
        wire_len += sent;
        proto_buf_consume(&b, sent);
        if (round == 199) {
            memcpy(wire + wire_len, b.data + b.off, proto_buf_used(&b));
            wire_len += proto_buf_used(&b);
            struct proto_buf in = {0};
            proto_buf_append(&in, wire, wire_len);
            for (int i = 0; i < 200; i++) {
                assert_int_equal(decode_one(&in), 0);
                assert_int_equal(m.type, PT_PUT);
                assert_int_equal(m.size, (uint64_t)i);
                assert_string_equal(m.path, path);
            }
            assert_int_equal(proto_buf_used(&in), 0);
            proto_buf_free(&in);
        }
    }
    proto_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_split_frames),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_manifest_entries),
        cmocka_unit_test(test_append_after_partial_send),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
