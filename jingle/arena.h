/* arena.h - bump allocator that owns every string and node of one parsed
 * description. Internal to jingle/: freeing the arena frees the whole model at
 * once, which keeps parsers free of per-node cleanup paths. */
#ifndef EPODE_ARENA_H
#define EPODE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t total;   /* bytes handed out, for limits and benchmarks */
    size_t limit;   /* 0 = no limit; past it allocations fail */
};

void arena_init(struct arena *a, size_t limit);
void arena_release(struct arena *a);
/* Zeroed memory, aligned for any object; NULL when out of memory or past the
 * limit. */
void *arena_alloc(struct arena *a, size_t size);
/* Like arena_alloc, without zeroing: for bytes about to be overwritten. */
void *arena_alloc_raw(struct arena *a, size_t size);
/* A NUL-terminated copy of s[0..len). */
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);

#endif
