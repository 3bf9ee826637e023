/*
 * test_ids — context id allocation: disjoint master blocks, block
 * take/exhaust/refill, and the end of the 32-bit space.
 *
 *   make build/tests/test_ids && build/tests/test_ids --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>

#include "ids.h"

Test(ids, master_starts_after_itself_and_blocks_are_disjoint)
{
	struct ids_master m;
	ids_master_init(&m);
	uint32_t a, b, c;
	cr_assert_eq(ids_master_alloc(&m, 1, &a), 0);
	cr_assert_neq(a, 0); /* 0 is the master */
	cr_assert_eq(ids_master_alloc(&m, IDS_BLOCK, &b), 0);
	cr_assert_eq(ids_master_alloc(&m, IDS_BLOCK, &c), 0);
	/* [a, a+1), [b, b+1000), [c, c+1000) do not overlap */
	cr_assert(b >= a + 1);
	cr_assert(c >= b + IDS_BLOCK);
	cr_assert_eq(ids_master_alloc(&m, 0, &a), -ENOSPC);
}

Test(ids, block_take_exhaust_refill)
{
	struct ids_block b;
	ids_block_init(&b);
	uint32_t id;
	cr_assert_eq(ids_block_take(&b, &id), -EAGAIN);
	ids_block_fill(&b, 5000, 3);
	cr_assert_eq(ids_block_take(&b, &id), 0);
	cr_assert_eq(id, 5000);
	cr_assert_eq(ids_block_take(&b, &id), 0);
	cr_assert_eq(id, 5001);
	cr_assert_eq(ids_block_take(&b, &id), 0);
	cr_assert_eq(id, 5002);
	cr_assert_eq(ids_block_take(&b, &id), -EAGAIN);
	ids_block_fill(&b, 9000, IDS_BLOCK);
	for (uint32_t i = 0; i < IDS_BLOCK; i++) {
		cr_assert_eq(ids_block_take(&b, &id), 0);
		cr_assert_eq(id, 9000 + i);
	}
	cr_assert_eq(ids_block_take(&b, &id), -EAGAIN);
}

Test(ids, master_wrap_is_enospc_and_never_reuses)
{
	struct ids_master m;
	ids_master_init(&m);
	m.next = UINT32_MAX - 10;
	uint32_t s;
	cr_assert_eq(ids_master_alloc(&m, 5, &s), 0);
	cr_assert_eq(s, UINT32_MAX - 10);
	cr_assert_eq(ids_master_alloc(&m, 100, &s), -ENOSPC);
	cr_assert_eq(m.next, UINT32_MAX - 5); /* a failure takes nothing */
	cr_assert_eq(ids_master_alloc(&m, UINT32_MAX, &s), -ENOSPC);
}

Test(ids, block_fill_near_the_top_does_not_wrap)
{
	struct ids_block b;
	ids_block_init(&b);
	ids_block_fill(&b, UINT32_MAX - 1, 1000);
	uint32_t id;
	cr_assert_eq(ids_block_take(&b, &id), 0);
	cr_assert_eq(id, UINT32_MAX - 1);
	/* whatever else comes out, it must never be a small (reused) id */
	while (ids_block_take(&b, &id) == 0)
		cr_assert_geq(id, UINT32_MAX - 1);
}
