// fuzz-sources: syncd/proto.c syncd/manifest.c syncd/tree.c syncd/apply.c syncd/idmap.c
/*
 * fuzz_frame.c: the syncd frame parser (what `syncd --serve` reads from the network):
 * framing, every frame type's decoder, MANIFEST entries, path validation, and an
 * encode/decode round trip of what decoded cleanly. Then the same frames are applied by
 * the receiver's code (apply.c) to a real directory, [sync] root = a temp dir, paths =
 * /data, which holds symlinks to a directory beside it ("outside") and to "/". After
 * every input, nothing outside data may have appeared or changed, or the fuzzer aborts.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../syncd/apply.h"
#include "../../syncd/manifest.h"
#include "../../syncd/proto.h"
#include "conf.h"
#include "log.h"

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

/* ---- the receiver on a real directory ---- */

static char top[64];                 /* /tmp/hs-fuzz-frame.XXXXXX: root/ (data/), outside/ */
static struct conf rconf;
static struct apply ap;
static uint64_t outside_sum;
static unsigned runs;

/* Everything under dir except root/data: names, types, modes, owners, sizes, mtimes. */
static uint64_t tree_sum(int dfd, const char *rel, uint64_t h)
{
    DIR *d = fdopendir(dfd);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
        if (!strcmp(path, "./root/data"))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            abort();
        uint64_t v[] = {st.st_mode, st.st_uid, st.st_gid, (uint64_t)st.st_size,
                        (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec, st.st_ino};
        for (const char *c = path; *c; c++)
            h = (h ^ (uint8_t)*c) * 1099511628211u;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
            h = (h ^ v[i]) * 1099511628211u;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            h = tree_sum(sub, path, h);
        }
    }
    closedir(d);
    return h;
}

static uint64_t outside(void)
{
    return tree_sum(open(top, O_RDONLY | O_DIRECTORY), ".", 1469598103934665603u);
}

static void rm_tree(int dfd, const char *name)
{
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (sub >= 0) {
        DIR *d = fdopendir(sub);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                rm_tree(dirfd(d), de->d_name);
        if (d)
            closedir(d);
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

/* data/ starts with links out: to the directory beside the root, and to "/". */
static void fresh_data(void)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/root", top);
    int rfd = open(p, O_RDONLY | O_DIRECTORY);
    rm_tree(rfd, "data");
    mkdirat(rfd, "data", 0755);
    int dfd = openat(rfd, "data", O_RDONLY | O_DIRECTORY);
    if (symlinkat("../../outside", dfd, "out") < 0 || symlinkat("/", dfd, "slash") < 0 ||
        mkdirat(dfd, "sub", 0755) < 0 || symlinkat("..", dfd, "sub/up") < 0)
        abort();
    close(dfd);
    close(rfd);
}

/* At the end of a run (libFuzzer exits through exit()): the directory goes. A crash keeps it
 * for a look, beside the reproducer. */
static void receiver_cleanup(void)
{
    rm_tree(AT_FDCWD, top);
}

static void receiver_init(void)
{
    snprintf(top, sizeof(top), "/tmp/hs-fuzz-frame.XXXXXX");
    if (!mkdtemp(top))
        abort();
    atexit(receiver_cleanup);
    char p[128];
    snprintf(p, sizeof(p), "%s/root", top);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/outside", top);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/outside/canary", top);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    if (fd < 0 || write(fd, "canary\n", 7) != 7)
        abort();
    close(fd);
    snprintf(p, sizeof(p), "%s/outside/.hs-tmp.x", top);   /* not ours: never removed */
    close(open(p, O_WRONLY | O_CREAT, 0600));
    fresh_data();
    conf_defaults(&rconf);
    snprintf(rconf.sync_root, sizeof(rconf.sync_root), "%s/root", top);
    snprintf(rconf.sync_paths[0], sizeof(rconf.sync_paths[0]), "/data");
    rconf.n_sync_paths = 1;
    char err[256];
    log_init("fuzz_frame", 0);
    if (apply_open(&ap, &rconf, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz_frame: %s\n", err);
        abort();
    }
    ap.rejoin = 1;   /* half the inputs also exercise the conflict store */
    ap.epoch = 7;
    outside_sum = outside();
}

/* What serve.c's on_frame does with a decoded frame after a valid HELLO. */
static void apply_frame(const struct proto_msg *m)
{
    char err[PROTO_PATH_MAX + 256];
    if (m->type == PT_DATA || m->type == PT_END) {
        if (!apply_put_active(&ap))
            return;
        if (m->type == PT_DATA)
            apply_put_data(&ap, m->data, m->data_len, err, sizeof(err));
        else
            apply_put_end(&ap, m->ok, err, sizeof(err));
        return;
    }
    if (apply_put_active(&ap))
        apply_put_abort(&ap);
    if (m->type != PT_PUT)
        apply_commit(&ap);
    switch (m->type) {
    case PT_PUT: apply_put_begin(&ap, m, err, sizeof(err)); break;
    case PT_MKDIR: apply_mkdir(&ap, m, err, sizeof(err)); break;
    case PT_SYMLINK: apply_symlink(&ap, m, err, sizeof(err)); break;
    case PT_DELETE: apply_delete(&ap, m->path, err, sizeof(err)); break;
    case PT_RENAME: apply_rename(&ap, m, err, sizeof(err)); break;
    case PT_SYNC: apply_sync(&ap); break;
    case PT_IDNAME: idmap_learn(&ap.ids, m->flags, m->uid, m->node); break;
    case PT_MANIFEST_REQ:
        if (apply_check_path(&ap, m->path, err, sizeof(err)) == 0) {
            struct manifest man = {0};
            manifest_scan(&ap.tree, m->path, NULL, 1, m->flags & MF_HASH, &man);
            manifest_free(&man);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!top[0])
        receiver_init();
    if (++runs % 2000 == 0) {
        fresh_data();   /* keep the directory small */
        outside_sum = outside();
    }
    ap.rejoin = size & 1;
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
                apply_frame(&m);
            }
            proto_buf_consume(&in, PROTO_HDR + len);
        }
        if (r < 0)
            break;
    }
    proto_buf_free(&in);
    apply_put_abort(&ap);
    apply_sync(&ap);
    if (outside() != outside_sum) {
        fprintf(stderr, "fuzz_frame: something outside %s/root/data appeared or changed\n", top);
        abort();
    }
    return 0;
}
