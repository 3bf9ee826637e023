/* map — open addressing, linear probing, tombstones, power-of-two sizes. */
#include "map.h"

#include <errno.h>
#include <stdlib.h>

uint64_t map_mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static size_t hash64(uint64_t k)
{
	return (size_t)map_mix64(k);
}

void map_init(struct map *m)
{
	m->slots = NULL;
	m->cap = m->used = m->fill = 0;
}

void map_free(struct map *m)
{
	free(m->slots);
	map_init(m);
}

static struct map_slot *find(const struct map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash64(key) & (m->cap - 1), n = 0; n < m->cap;
	     i = (i + 1) & (m->cap - 1), n++) {
		struct map_slot *s = &m->slots[i];
		if (!s->val && !s->tomb)
			return NULL;
		if (s->val && s->key == key)
			return s;
	}
	return NULL;
}

void *map_get(const struct map *m, uint64_t key)
{
	struct map_slot *s = find(m, key);
	return s ? s->val : NULL;
}

static int grow(struct map *m)
{
	size_t cap = m->cap ? m->cap : 16;
	if (m->used * 2 >= cap)
		cap *= 2;
	struct map_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	struct map old = *m;
	m->slots = slots;
	m->cap = cap;
	m->used = m->fill = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].val)
			map_put(m, old.slots[i].key, old.slots[i].val);
	free(old.slots);
	return 0;
}

int map_put(struct map *m, uint64_t key, void *val)
{
	if (!val)
		return -EINVAL;
	struct map_slot *s = find(m, key);
	if (s) {
		s->val = val;
		return 0;
	}
	if ((m->fill + 1) * 4 > m->cap * 3) {
		int rc = grow(m);
		if (rc)
			return rc;
	}
	for (size_t i = hash64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		s = &m->slots[i];
		if (!s->val) {
			if (!s->tomb)
				m->fill++;
			s->key = key;
			s->val = val;
			s->tomb = 0;
			m->used++;
			return 0;
		}
	}
}

void *map_del(struct map *m, uint64_t key)
{
	struct map_slot *s = find(m, key);
	if (!s)
		return NULL;
	void *v = s->val;
	s->val = NULL;
	s->tomb = 1;
	m->used--;
	return v;
}

int map_next(const struct map *m, size_t *pos, uint64_t *key, void **val)
{
	while (*pos < m->cap) {
		struct map_slot *s = &m->slots[(*pos)++];
		if (s->val) {
			if (key)
				*key = s->key;
			if (val)
				*val = s->val;
			return 1;
		}
	}
	return 0;
}
