/*
 * test_map — the u64 -> pointer hash map: put/get/del, growth,
 * tombstones keeping probe chains intact, iteration.
 *
 *   make build/tests/test_map && build/tests/test_map --jobs 2
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "map.h"

#define V(k) ((void *)(uintptr_t)((k) * 2 + 1)) /* never NULL */

Test(map, put_get_del_replace)
{
	struct map m;
	map_init(&m);
	cr_assert_null(map_get(&m, 1));
	cr_assert_null(map_del(&m, 1));
	cr_assert_eq(map_put(&m, 1, V(1)), 0);
	cr_assert_eq(map_put(&m, 0, V(0)), 0); /* key 0 is a key like any */
	cr_assert_eq(map_put(&m, UINT64_MAX, V(9)), 0);
	cr_assert_eq(map_get(&m, 1), V(1));
	cr_assert_eq(map_get(&m, 0), V(0));
	cr_assert_eq(map_get(&m, UINT64_MAX), V(9));
	cr_assert_eq(m.used, 3);
	cr_assert_eq(map_put(&m, 1, V(5)), 0);
	cr_assert_eq(map_get(&m, 1), V(5));
	cr_assert_eq(m.used, 3);
	cr_assert_eq(map_put(&m, 2, NULL), -EINVAL);
	cr_assert_eq(map_del(&m, 1), V(5));
	cr_assert_null(map_get(&m, 1));
	cr_assert_eq(m.used, 2);
	map_free(&m);
	map_free(&m);
}

Test(map, many_keys_survive_growth)
{
	struct map m;
	map_init(&m);
	for (uint64_t k = 0; k < 100000; k++)
		cr_assert_eq(map_put(&m, k * 7919, V(k)), 0);
	cr_assert_eq(m.used, 100000);
	cr_assert_geq(m.cap, 100000);
	cr_assert_eq(m.cap & (m.cap - 1), 0); /* power of two */
	for (uint64_t k = 0; k < 100000; k++)
		cr_assert_eq(map_get(&m, k * 7919), V(k));
	cr_assert_null(map_get(&m, 7919 * 100000ull));
	map_free(&m);
}

Test(map, tombstones_keep_probe_chains_and_do_not_fill_forever)
{
	struct map m;
	map_init(&m);
	/* Fill, delete half, check the other half is still reachable
	 * through the tombstones. */
	for (uint64_t k = 0; k < 1000; k++)
		map_put(&m, k, V(k));
	for (uint64_t k = 0; k < 1000; k += 2)
		cr_assert_eq(map_del(&m, k), V(k));
	for (uint64_t k = 0; k < 1000; k++)
		cr_assert_eq(map_get(&m, k), k % 2 ? V(k) : NULL);
	/* Churn: insert/delete fresh keys many times; the table must not
	 * grow without bound, and must never loop forever. */
	size_t cap = m.cap;
	for (uint64_t k = 10000; k < 200000; k++) {
		cr_assert_eq(map_put(&m, k, V(k)), 0);
		cr_assert_eq(map_del(&m, k), V(k));
	}
	cr_assert_leq(m.cap, cap * 2);
	cr_assert_eq(m.used, 500);
	for (uint64_t k = 1; k < 1000; k += 2)
		cr_assert_eq(map_get(&m, k), V(k));
	map_free(&m);
}

Test(map, iteration_visits_each_live_entry_once)
{
	struct map m;
	map_init(&m);
	size_t pos = 0;
	uint64_t key;
	void *val;
	cr_assert_eq(map_next(&m, &pos, &key, &val), 0);
	for (uint64_t k = 0; k < 500; k++)
		map_put(&m, k, V(k));
	for (uint64_t k = 0; k < 500; k += 5)
		map_del(&m, k);
	static char seen[500];
	int n = 0;
	pos = 0;
	while (map_next(&m, &pos, &key, &val)) {
		cr_assert_lt(key, 500);
		cr_assert_eq(val, V(key));
		cr_assert_neq(key % 5, 0);
		cr_assert_eq(seen[key], 0);
		seen[key] = 1;
		n++;
	}
	cr_assert_eq(n, 400);
	map_free(&m);
}

Test(map, deleting_the_current_entry_during_iteration_is_safe)
{
	struct map m;
	map_init(&m);
	for (uint64_t k = 0; k < 300; k++)
		map_put(&m, k, V(k));
	size_t pos = 0;
	uint64_t key;
	int n = 0;
	while (map_next(&m, &pos, &key, NULL)) {
		cr_assert_eq(map_del(&m, key), V(key));
		n++;
	}
	cr_assert_eq(n, 300);
	cr_assert_eq(m.used, 0);
	map_free(&m);
}
