/*
 * loop — the single-threaded epoll event loop every mitofs process runs:
 * fd callbacks, one-shot timers and signals (through signalfd).
 *
 * There are no threads and no locks: callbacks run one at a time. A
 * callback may add or delete any fd or timer, including its own; an event
 * already fetched for an fd deleted (or deleted and re-added) during the
 * same round is not delivered. Not for: framing or buffering (stream.h).
 */
#ifndef MITOFS_LOOP_H
#define MITOFS_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

/* events: the EPOLL* bits that fired (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). */
typedef void loop_fd_cb(struct loop *l, int fd, uint32_t events, void *arg);
typedef void loop_timer_cb(struct loop *l, void *arg);
typedef void loop_signal_cb(struct loop *l, int signo, void *arg);

/* New loop. NULL with errno on failure. */
struct loop *loop_new(void);
/* Closes the epoll fd and signalfd, frees pending timers; registered fds
 * are not closed (their owners close them). loop_free(NULL) is a no-op. */
void loop_free(struct loop *l);

/* Watches fd for events (EPOLLIN/EPOLLOUT, level-triggered). 0, -EEXIST
 * if fd is already watched, or -errno from epoll_ctl / allocation. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_cb *cb, void *arg);
/* Changes the watched events of fd. 0 or -ENOENT / -errno. */
int loop_mod(struct loop *l, int fd, uint32_t events);
/* Stops watching fd (before the owner closes it). 0 or -ENOENT. */
int loop_del(struct loop *l, int fd);

/* Calls cb once after ms milliseconds. The handle stays valid until the
 * callback has started or loop_timer_cancel; NULL with errno=ENOMEM. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_cb *cb, void *arg);
/* Cancels a pending timer and frees it; NULL does nothing. Must not be
 * called on a timer whose callback has already started. */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Blocks signo (sigprocmask) and delivers it through a signalfd to cb.
 * One callback per signal; 0 or -errno. */
int loop_signal(struct loop *l, int signo, loop_signal_cb *cb, void *arg);

/* Runs until loop_stop. Returns 0, or -errno if epoll_wait fails for a
 * reason other than EINTR. */
int loop_run(struct loop *l);
/* Makes loop_run return after the current callback. */
void loop_stop(struct loop *l);
/* Runs one round: waits at most timeout_ms (-1: until something
 * happens), dispatches, returns the number of callbacks run or -errno. */
int loop_once(struct loop *l, int timeout_ms);

/* Monotonic clock in milliseconds / microseconds. */
uint64_t loop_now_ms(void);
uint64_t loop_now_us(void);

#endif
