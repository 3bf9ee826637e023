/*
 * ids — context id allocation. The master hands out ids, one at a time
 * for its own children and in blocks (ALLOCATE_ID) to stubs, so a stub
 * can create children without a round trip per child. Not for: routing.
 */
#ifndef MITOFS_IDS_H
#define MITOFS_IDS_H

#include <stdint.h>

#define IDS_BLOCK 1000 /* ids per ALLOCATE_ID answer, as in Mitogen */

struct ids_master {
	uint32_t next; /* next free id; 0 is the master */
};

struct ids_block {
	uint32_t next; /* next id to hand out */
	uint32_t end;  /* one past the last id of the block */
};

void ids_master_init(struct ids_master *m);
/* Reserves count consecutive ids starting at *start. 0, or -ENOSPC when
 * the 32-bit space is used up (ids are never reused: a late message for
 * a dead context must never reach a new one). */
int ids_master_alloc(struct ids_master *m, uint32_t count, uint32_t *start);

void ids_block_init(struct ids_block *b);
/* Takes one id from the block. 0, or -EAGAIN when it is empty (ask the
 * master for another). */
int ids_block_take(struct ids_block *b, uint32_t *id);
/* Replaces the block with [start, start+count). */
void ids_block_fill(struct ids_block *b, uint32_t start, uint32_t count);

#endif
