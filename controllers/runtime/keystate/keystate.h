/*
 * keystate.h - what a controller remembers of each key between reconciles
 * (the last spec sent to a driver, when status was last written, which step
 * a Migration is on): one map from "ns/name" to a state struct of the
 * controller's own type, behind one lock.
 *
 * A state is created zeroed (then `init`) on first use and lives until the
 * controller forgets the key (usually once the object is gone) or the set is
 * destroyed (`fini` runs on each). The workqueue never runs one key on two
 * workers at once, so a key's reconcile may keep using its state after
 * kumo_keystate_get returns; kumo_keystate_acquire/release instead keep the
 * set locked while the state is used (for state read by other threads).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef KUMO_KEYSTATE_H
#define KUMO_KEYSTATE_H

#include <stddef.h>

typedef struct kumo_keystate kumo_keystate;

typedef struct kumo_keystate_ops {
    size_t size;               /* of one state struct */
    int (*init)(void *state);  /* after zeroing; 0, or -1 when out of memory; NULL: none */
    void (*fini)(void *state); /* frees what the state holds (not the state); NULL: none */
} kumo_keystate_ops;

/* A new empty set (ops borrowed: static storage); NULL when out of memory. */
kumo_keystate *kumo_keystate_create(const kumo_keystate_ops *ops);
/* Finishes and frees every state, then the set. NULL is a no-op. */
void kumo_keystate_destroy(kumo_keystate *set);

/* The state of key, created when absent; NULL when out of memory. Borrowed until forget. */
void *kumo_keystate_get(kumo_keystate *set, const char *key);
/* As get, but the set stays locked until kumo_keystate_release, even when NULL is returned. */
void *kumo_keystate_acquire(kumo_keystate *set, const char *key);
void kumo_keystate_release(kumo_keystate *set);
/* Finishes and frees the state of key, if any. */
void kumo_keystate_forget(kumo_keystate *set, const char *key);
/* How many keys have a state. */
size_t kumo_keystate_count(kumo_keystate *set);

#endif
