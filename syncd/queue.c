/*
 * queue.c: the sender's operation queues (FIFO lists of struct op) and the coalescing
 * table that keeps one pending OP_SYNC per path.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "syncd.h"

#define HASH_BUCKETS 16384

struct op *sync_op_new(enum op_kind kind, const char *path, const char *path2)
{
    struct op *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->kind = kind;
    o->queued_ns = now_ns();
    o->path = strdup(path ? path : "");
    o->path2 = path2 ? strdup(path2) : NULL;
    if (!o->path || (path2 && !o->path2)) {
        free(o->path);
        free(o->path2);
        free(o);
        return NULL;
    }
    return o;
}

void sync_op_free(struct op *o)
{
    free(o->path);
    free(o->path2);
    free(o);
}

void sync_opq_push(struct opq *q, struct op *o)
{
    o->next = NULL;
    if (q->tail)
        q->tail->next = o;
    else
        q->head = o;
    q->tail = o;
    q->n++;
}

struct op *sync_opq_pop(struct opq *q)
{
    struct op *o = q->head;
    if (!o)
        return NULL;
    q->head = o->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    return o;
}

/* Puts all of front before q's contents. */
void sync_opq_prepend(struct opq *q, struct opq *front)
{
    if (!front->head)
        return;
    front->tail->next = q->head;
    if (!q->tail)
        q->tail = front->tail;
    q->head = front->head;
    q->n += front->n;
    memset(front, 0, sizeof(*front));
}

void sync_opq_clear(struct opq *q)
{
    struct op *o;
    while ((o = sync_opq_pop(q)) != NULL)
        sync_op_free(o);
}

/* Coalescing: pending OP_SYNC entries by path (a chained hash through a side table). */
struct hnode {
    struct hnode *next;
    struct op *op;
};

/* The buckets (128 KiB) exist only while something is queued: a cleared table gives its
 * pages back instead of keeping every bucket a past batch touched resident. */
struct coalesce {
    struct hnode **b;
};

static uint32_t hash_path(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h % HASH_BUCKETS;
}

void sync_coalesce_clear(struct coalesce *c)
{
    if (!c || !c->b)
        return;
    for (int i = 0; i < HASH_BUCKETS; i++)
        while (c->b[i]) {
            struct hnode *n = c->b[i];
            c->b[i] = n->next;
            free(n);
        }
    free(c->b);
    c->b = NULL;
}

struct coalesce *sync_coalesce_new(void)
{
    return calloc(1, sizeof(struct coalesce));
}

void sync_coalesce_free(struct coalesce *c)
{
    sync_coalesce_clear(c);
    free(c);
}

struct op *sync_coalesce_find(const struct coalesce *c, const char *path)
{
    if (!c || !c->b)
        return NULL;
    for (struct hnode *n = c->b[hash_path(path)]; n; n = n->next)
        if (!strcmp(n->op->path, path))
            return n->op;
    return NULL;
}

void sync_coalesce_add(struct coalesce *c, struct op *o)
{
    if (c && !c->b)
        c->b = calloc(HASH_BUCKETS, sizeof(*c->b));
    struct hnode *n = c && c->b ? malloc(sizeof(*n)) : NULL;
    if (!n)
        return;   /* without the entry, a later change is queued twice: harmless */
    uint32_t h = hash_path(o->path);
    n->op = o;
    n->next = c->b[h];
    c->b[h] = n;
}
