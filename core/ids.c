/* ids — master allocator and stub-side id blocks. */
#include "ids.h"

#include <errno.h>

void ids_master_init(struct ids_master *m) { m->next = 1; }

int ids_master_alloc(struct ids_master *m, uint32_t count, uint32_t *start)
{
	if (count == 0 || count > UINT32_MAX - m->next)
		return -ENOSPC;
	*start = m->next;
	m->next += count;
	return 0;
}

void ids_block_init(struct ids_block *b) { b->next = b->end = 0; }

int ids_block_take(struct ids_block *b, uint32_t *id)
{
	if (b->next >= b->end)
		return -EAGAIN;
	*id = b->next++;
	return 0;
}

void ids_block_fill(struct ids_block *b, uint32_t start, uint32_t count)
{
	b->next = start;
	b->end = count > UINT32_MAX - start ? UINT32_MAX : start + count;
}
