/*
 * test_manifest.c: the pure manifest comparison (syncd/manifest.c) that reconcile runs:
 * what is sent, what is deleted, in which order, with owners on or off; exclusion globs;
 * and a scan of a real temporary tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../syncd/manifest.h"
#include "../../syncd/tree.h"

static void add(struct manifest *m, const char *path, int kind, uint32_t mode, uint64_t size,
                int64_t mtime, const char *target)
{
    static struct proto_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.path, sizeof(e.path), "%s", path);
    snprintf(e.target, sizeof(e.target), "%s", target ? target : "");
    e.kind = (uint8_t)kind;
    e.mode = mode;
    e.size = size;
    e.mtime_ns = mtime;
    assert_int_equal(manifest_add(m, &e), 0);
}

static char actions[4096];

static void record(void *arg, enum manifest_action a, const struct manifest_entry *e)
{
    size_t l = strlen(actions);
    snprintf(actions + l, sizeof(actions) - l, "%s%s %s", l ? "," : "",
             a == MA_SEND ? "send" : "del", e->path);
}

static size_t diff(struct manifest *l, struct manifest *r, int owners)
{
    actions[0] = '\0';
    manifest_sort(l);
    manifest_sort(r);
    return manifest_diff(l, r, owners, record, NULL);
}

static void test_equal_trees(void **state)
{
    struct manifest l = {0}, r = {0};
    add(&l, "d", PK_DIR, 0755, 0, 1, NULL);
    add(&l, "d/f", PK_FILE, 0644, 3, 5, NULL);
    add(&r, "d/f", PK_FILE, 0644, 3, 5, NULL);
    add(&r, "d", PK_DIR, 0755, 0, 999, NULL);   /* directory mtimes are ignored */
    assert_int_equal(diff(&l, &r, 1), 0);
    manifest_free(&l);
    manifest_free(&r);
}

static void test_differences(void **state)
{
    struct manifest l = {0}, r = {0};
    add(&l, "d", PK_DIR, 0755, 0, 0, NULL);
    add(&l, "d/size", PK_FILE, 0644, 4, 5, NULL);
    add(&l, "d/mtime", PK_FILE, 0644, 3, 6, NULL);
    add(&l, "d/mode", PK_FILE, 0600, 3, 5, NULL);
    add(&l, "d/new", PK_FILE, 0644, 3, 5, NULL);
    add(&l, "d/link", PK_SYMLINK, 0777, 0, 5, "a");
    add(&r, "d", PK_DIR, 0755, 0, 0, NULL);
    add(&r, "d/size", PK_FILE, 0644, 3, 5, NULL);
    add(&r, "d/mtime", PK_FILE, 0644, 3, 5, NULL);
    add(&r, "d/mode", PK_FILE, 0644, 3, 5, NULL);
    add(&r, "d/link", PK_SYMLINK, 0777, 0, 5, "b");
    add(&r, "d/gone", PK_FILE, 0644, 3, 5, NULL);
    assert_int_equal(diff(&l, &r, 1), 6);
    assert_string_equal(actions,
                        "del d/gone,send d/link,send d/mode,send d/mtime,send d/new,send d/size");
    manifest_free(&l);
    manifest_free(&r);
}

static void test_removed_directory_once(void **state)
{
    struct manifest l = {0}, r = {0};
    add(&l, "a", PK_DIR, 0755, 0, 0, NULL);
    add(&r, "a", PK_DIR, 0755, 0, 0, NULL);
    add(&r, "a/old", PK_DIR, 0755, 0, 0, NULL);
    add(&r, "a/old/x", PK_FILE, 0644, 1, 1, NULL);
    add(&r, "a/old/y/z", PK_FILE, 0644, 1, 1, NULL);
    add(&r, "a/old-sibling", PK_FILE, 0644, 1, 1, NULL);
    assert_int_equal(diff(&l, &r, 1), 2);
    assert_string_equal(actions, "del a/old,del a/old-sibling");
    manifest_free(&l);
    manifest_free(&r);
}

static void test_kind_change(void **state)
{
    struct manifest l = {0}, r = {0};
    add(&l, "x", PK_DIR, 0755, 0, 0, NULL);
    add(&l, "x/in", PK_FILE, 0644, 1, 1, NULL);
    add(&l, "y", PK_FILE, 0644, 1, 1, NULL);
    add(&r, "x", PK_FILE, 0644, 1, 1, NULL);
    add(&r, "y", PK_DIR, 0755, 0, 0, NULL);
    add(&r, "y/child", PK_FILE, 0644, 1, 1, NULL);
    diff(&l, &r, 1);
    /* tree order ('/' sorts first): a parent is always sent before its children */
    assert_string_equal(actions, "del x,send x,send x/in,del y,send y");
    manifest_free(&l);
    manifest_free(&r);
}

static void test_tree_order(void **state)
{
    struct manifest l = {0}, r = {0};
    add(&l, "a-b", PK_FILE, 0644, 1, 1, NULL);
    add(&l, "a/b", PK_FILE, 0644, 1, 1, NULL);
    add(&l, "a", PK_DIR, 0755, 0, 0, NULL);
    diff(&l, &r, 1);
    assert_string_equal(actions, "send a,send a/b,send a-b");
    manifest_free(&l);
}

static void test_owners(void **state)
{
    struct manifest l = {0}, r = {0};
    add(&l, "f", PK_FILE, 0644, 1, 1, NULL);
    add(&r, "f", PK_FILE, 0644, 1, 1, NULL);
    r.e[0].uid = 1000;
    assert_int_equal(diff(&l, &r, 0), 0);   /* receiver cannot chown: owners ignored */
    assert_int_equal(diff(&l, &r, 1), 1);
    manifest_free(&l);
    manifest_free(&r);
}

static void test_excluded(void **state)
{
    char globs[2][256] = {"*.swp", "cache"};
    struct manifest_filter f = {globs, 2};
    assert_true(manifest_excluded(&f, "data/x.swp"));
    assert_true(manifest_excluded(&f, "data/cache"));
    assert_false(manifest_excluded(&f, "data/cachex"));
    assert_false(manifest_excluded(&f, "data/x.swpx"));
    assert_true(manifest_excluded(NULL, "data/.hs-tmp.12.3"));
    assert_true(manifest_excluded(NULL, "data/.hotstandby-conflicts"));
    assert_false(manifest_excluded(NULL, "data/.hotstandby-conflictsx"));
}

/* The sync tree of root DIR with the one path /data, opened (the conf lives as long as it). */
static void open_data_tree(struct sync_tree *t, const char *dir)
{
    static struct conf c;
    conf_defaults(&c);
    snprintf(c.sync_root, sizeof(c.sync_root), "%s", dir);
    snprintf(c.sync_paths[0], sizeof(c.sync_paths[0]), "/data");
    c.n_sync_paths = 1;
    char err[256];
    assert_int_equal(sync_tree_open(t, &c, 0, err, sizeof(err)), 0);
}

static void test_scan(void **state)
{
    char dir[] = "/tmp/test_manifest.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof(p), "%s/data", dir);
    mkdir(p, 0750);
    snprintf(p, sizeof(p), "%s/data/f", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0640);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    snprintf(p, sizeof(p), "%s/data/l", dir);
    assert_int_equal(symlink("f", p), 0);
    snprintf(p, sizeof(p), "%s/data/.hs-tmp.999999999.1", dir);   /* a dead receiver's */
    close(open(p, O_WRONLY | O_CREAT, 0600));
    snprintf(p, sizeof(p), "%s/data/skip.swp", dir);
    close(open(p, O_WRONLY | O_CREAT, 0600));
    char globs[1][256] = {"*.swp"};
    struct manifest_filter f = {globs, 1};
    struct sync_tree t;
    open_data_tree(&t, dir);
    struct manifest m = {0};
    assert_int_equal(manifest_scan(&t, "data", &f, 1, 1, &m), 0);
    manifest_sort(&m);
    assert_int_equal(m.n, 3);
    struct manifest again = {0};   /* a second scan of a sync path sees it all again */
    assert_int_equal(manifest_scan(&t, "data", &f, 0, 0, &again), 0);
    assert_int_equal(again.n, 3);
    manifest_free(&again);
    assert_string_equal(m.e[0].path, "data");
    assert_int_equal(m.e[0].kind, PK_DIR);
    assert_int_equal(m.e[0].mode, 0750);
    assert_string_equal(m.e[1].path, "data/f");
    assert_int_equal(m.e[1].size, 5);
    assert_string_equal(m.e[2].path, "data/l");
    assert_string_equal(m.e[2].target, "f");
    snprintf(p, sizeof(p), "%s/data/.hs-tmp.999999999.1", dir);
    assert_int_equal(access(p, F_OK), -1);   /* stale temp file removed */
    struct manifest none = {0};
    assert_int_equal(manifest_scan(&t, "data/missing", &f, 0, 0, &none), 0);
    /* a symlink mid-path is never walked through: data/l -> . lists nothing below it */
    struct manifest through = {0};
    assert_int_equal(manifest_scan(&t, "data/l/f", &f, 0, 0, &through), 0);
    assert_int_equal(through.n, 0);
    snprintf(p, sizeof(p), "%s/data/self", dir);
    assert_int_equal(symlink(".", p), 0);
    assert_int_equal(manifest_scan(&t, "data/self/f", &f, 0, 0, &through), 0);
    assert_int_equal(through.n, 0);
    /* outside every sync path: refused */
    assert_int_equal(manifest_scan(&t, "other", &f, 0, 0, &through), -1);
    /* sha256("hello") */
    static const uint8_t hello[32] = {
        0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9, 0xe2, 0x9e,
        0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04, 0x33, 0x62, 0x93, 0x8b, 0x98, 0x24};
    assert_true(m.e[1].has_hash);
    assert_memory_equal(m.e[1].hash, hello, 32);
    assert_false(m.e[2].has_hash);   /* links are compared by target */
    assert_int_equal(none.n, 0);
    manifest_free(&m);
    sync_tree_close(&t);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int stop_after_two(void *arg, const struct proto_entry *pe)
{
    int *n = arg;
    if (++*n > 2) {
        errno = EPIPE;
        return -1;
    }
    return 0;
}

/* A scan lists in tree order by itself (the receiver streams it, the sender skips the
 * sort): "a", then everything below a, then "a-b" although '-' < '/' bytewise. */
static void test_scan_order(void **state)
{
    char dir[] = "/tmp/test_manifest.XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *dirs[] = {"data", "data/a", "data/a/x", "data/b", "data/e"};   /* e: empty */
    const char *files[] = {"data/a-b", "data/A", "data/a/x/f", "data/a/x-", "data/b/\xc3\xa9",
                           "data/b/z"};
    char p[256];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        close(open(p, O_WRONLY | O_CREAT, 0644));
    }
    struct sync_tree t;
    open_data_tree(&t, dir);
    struct manifest m = {0};
    assert_int_equal(manifest_scan(&t, "data", NULL, 0, 0, &m), 0);
    const char *want[] = {"data", "data/A", "data/a", "data/a/x", "data/a/x/f", "data/a/x-",
                          "data/a-b", "data/b", "data/b/z", "data/b/\xc3\xa9", "data/e"};
    assert_int_equal(m.n, sizeof(want) / sizeof(*want));
    for (size_t i = 0; i < m.n; i++)
        assert_string_equal(m.e[i].path, want[i]);
    /* the same entries in another order are sorted into it */
    struct manifest rev = {0};
    for (size_t i = m.n; i-- > 0;)
        add(&rev, m.e[i].path, m.e[i].kind, m.e[i].mode, m.e[i].size, m.e[i].mtime_ns, NULL);
    manifest_sort(&rev);
    for (size_t i = 0; i < m.n; i++)
        assert_string_equal(rev.e[i].path, want[i]);
    /* a callback that says stop ends the scan with its errno */
    int n = 0;
    errno = 0;
    assert_int_equal(manifest_scan_each(&t, "data", NULL, 0, 0, stop_after_two, &n), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(n, 3);
    manifest_free(&m);
    manifest_free(&rev);
    sync_tree_close(&t);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_trees),
        cmocka_unit_test(test_differences),
        cmocka_unit_test(test_removed_directory_once),
        cmocka_unit_test(test_kind_change),
        cmocka_unit_test(test_tree_order),
        cmocka_unit_test(test_owners),
        cmocka_unit_test(test_excluded),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_scan_order),
    };
    return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
