/*
 * idmap.h: owners by name across the two nodes of a sync session (syncd(8), OWNERS).
 * Each side names its own uids and gids to the other once per session (IDNAME frames,
 * before the first frame that uses them); each side maps a peer's id to the local id of
 * the same name when it has one, and keeps the number otherwise.
 */
#ifndef SYNCD_IDMAP_H
#define SYNCD_IDMAP_H

#include <stddef.h>
#include <stdint.h>

enum { ID_USER = 0, ID_GROUP = 1 };

struct idmap_entry {
    uint8_t kind;                  /* ID_USER / ID_GROUP */
    uint8_t ours;                  /* 1: our id, already named to the peer; 0: peer's id */
    uint32_t id, local;            /* peer's entries: the id of the same name here */
};

struct idmap {
    struct idmap_entry *e;
    size_t n, cap;
};

void idmap_free(struct idmap *m);
/* The peer says its id is called name: remembers the local id of that name, if any. */
void idmap_learn(struct idmap *m, uint8_t kind, uint32_t peer_id, const char *name);
/* The local id for a peer's id (its own number when no name maps it). */
uint32_t idmap_to_local(const struct idmap *m, uint8_t kind, uint32_t peer_id);
/* Our id, the first time in this session: 1 with its name in buf (send an IDNAME), else 0. */
int idmap_name_once(struct idmap *m, uint8_t kind, uint32_t id, char *buf, size_t len);

#endif
