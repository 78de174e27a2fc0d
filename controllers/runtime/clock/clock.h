/*
 * clock.h - the one clock the controllers read: monotonic milliseconds.
 *
 * Every deadline, backoff, poll interval and latency in controllers/ is a
 * difference of two readings of this clock, so that a wall-clock step (NTP,
 * a suspended VM) never fires or delays a timer. Header-only: each caller
 * gets the inline function, nothing to link.
 *
 * Thread safety: any thread.
 */
#ifndef KUMO_CLOCK_H
#define KUMO_CLOCK_H

#include <time.h>

/* Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC), with sub-ms precision. */
static inline double kumo_clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
