/*
 * map — an open-addressing hash map from 64-bit keys to pointers, used
 * for routes (context id -> stream), handles (handle -> handler) and the
 * daemon's inode table. Not for: ordered iteration.
 */
#ifndef MITOFS_MAP_H
#define MITOFS_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_slot {
	uint64_t key;
	void *val; /* NULL: empty slot */
	int tomb;  /* deleted: keeps probe chains intact */
};

struct map {
	struct map_slot *slots;
	size_t cap;  /* power of two, or 0 */
	size_t used; /* live entries */
	size_t fill; /* live + tombstones */
};

/* The map's key mixer (MurmurHash3's finaliser): every input bit moves
 * every output bit. Also for other 64-bit hashes (remotefs's inodes). */
uint64_t map_mix64(uint64_t k);

void map_init(struct map *m);
/* Frees the table, not the values. */
void map_free(struct map *m);
/* Value for key, or NULL. */
void *map_get(const struct map *m, uint64_t key);
/* Sets key to val (val != NULL), replacing. 0, -EINVAL, -ENOMEM. */
int map_put(struct map *m, uint64_t key, void *val);
/* Removes key; returns its value or NULL. */
void *map_del(struct map *m, uint64_t key);
/* Iteration: start with *pos = 0; returns 1 and fills key/val while
 * entries are left. Deleting the current entry during iteration is safe;
 * inserting is not. */
int map_next(const struct map *m, size_t *pos, uint64_t *key, void **val);

#endif
