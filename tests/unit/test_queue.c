/*
 * test_queue.c: syncd's coalescing table (syncd/queue.c): a queued path is found until
 * the table is cleared, a cleared table (its buckets given back) takes entries again, and
 * many paths that share buckets stay apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../syncd/syncd.h"

#define MANY 20000   /* more than the buckets: chains */

static void test_find_clear_reuse(void **state)
{
    (void)state;
    struct coalesce *c = sync_coalesce_new();
    assert_non_null(c);
    assert_null(sync_coalesce_find(c, "data/a"));
    sync_coalesce_clear(c);   /* clearing an empty table is fine */
    for (int round = 0; round < 3; round++) {
        struct op *a = sync_op_new(OP_SYNC, "data/a", NULL);
        sync_coalesce_add(c, a);
        assert_ptr_equal(sync_coalesce_find(c, "data/a"), a);
        assert_null(sync_coalesce_find(c, "data/b"));
        sync_coalesce_clear(c);
        assert_null(sync_coalesce_find(c, "data/a"));
        sync_op_free(a);
    }
    sync_coalesce_free(c);
}

static void test_many(void **state)
{
    (void)state;
    static struct op *ops[MANY];
    struct coalesce *c = sync_coalesce_new();
    char path[64];
    for (int i = 0; i < MANY; i++) {
        snprintf(path, sizeof(path), "data/f%d", i);
        ops[i] = sync_op_new(OP_SYNC, path, NULL);
        sync_coalesce_add(c, ops[i]);
    }
    for (int i = 0; i < MANY; i++) {
        snprintf(path, sizeof(path), "data/f%d", i);
        assert_ptr_equal(sync_coalesce_find(c, path), ops[i]);
    }
    assert_null(sync_coalesce_find(c, "data/f-none"));
    sync_coalesce_free(c);   /* frees the entries, not the ops */
    for (int i = 0; i < MANY; i++)
        sync_op_free(ops[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_clear_reuse),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
