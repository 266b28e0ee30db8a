/* idmap.c: uid/gid <-> name mapping for one sync session (idmap.h). */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

void idmap_free(struct idmap *m)
{
    free(m->e);
    memset(m, 0, sizeof(*m));
}

static struct idmap_entry *find(const struct idmap *m, uint8_t kind, uint8_t ours, uint32_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].kind == kind && m->e[i].ours == ours && m->e[i].id == id)
            return &m->e[i];
    return NULL;
}

static struct idmap_entry *add(struct idmap *m, uint8_t kind, uint8_t ours, uint32_t id)
{
    struct idmap_entry *e = find(m, kind, ours, id);
    if (e)
        return e;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        if (cap > 65536)
            return NULL;   /* a peer naming more ids than that is hostile: numbers it is */
        struct idmap_entry *ne = realloc(m->e, cap * sizeof(*ne));
        if (!ne)
            return NULL;
        m->e = ne;
        m->cap = cap;
    }
    e = &m->e[m->n++];
    *e = (struct idmap_entry){.kind = kind, .ours = ours, .id = id, .local = id};
    return e;
}

/* NSS lookups with the reentrant calls: the result must not be overwritten under us. */
static int local_id(uint8_t kind, const char *name, uint32_t *id)
{
    char buf[16384];
    if (kind == ID_USER) {
        struct passwd pw, *r = NULL;
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &r) != 0 || !r)
            return -1;
        *id = r->pw_uid;
    } else {
        struct group gr, *r = NULL;
        if (getgrnam_r(name, &gr, buf, sizeof(buf), &r) != 0 || !r)
            return -1;
        *id = r->gr_gid;
    }
    return 0;
}

void idmap_learn(struct idmap *m, uint8_t kind, uint32_t peer_id, const char *name)
{
    uint32_t id;
    if (kind > ID_GROUP || !*name)
        return;
    struct idmap_entry *e = add(m, kind, 0, peer_id);
    if (e)
        e->local = local_id(kind, name, &id) == 0 ? id : peer_id;
}

uint32_t idmap_to_local(const struct idmap *m, uint8_t kind, uint32_t peer_id)
{
    const struct idmap_entry *e = find(m, kind, 0, peer_id);
    return e ? e->local : peer_id;
}

int idmap_name_once(struct idmap *m, uint8_t kind, uint32_t id, char *out, size_t len)
{
    if (find(m, kind, 1, id) || !add(m, kind, 1, id))
        return 0;
    char buf[16384];
    const char *name = NULL;
    if (kind == ID_USER) {
        struct passwd pw, *r = NULL;
        if (getpwuid_r(id, &pw, buf, sizeof(buf), &r) == 0 && r)
            name = r->pw_name;
    } else {
        struct group gr, *r = NULL;
        if (getgrgid_r(id, &gr, buf, sizeof(buf), &r) == 0 && r)
            name = r->gr_name;
    }
    if (!name || strlen(name) >= len)
        return 0;
    snprintf(out, len, "%s", name);
    return 1;
}
