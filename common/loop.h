/* loop.h: the one event loop every daemon uses: fds, CLOCK_BOOTTIME timers, signals. */
#ifndef HS_LOOP_H
#define HS_LOOP_H

#include <signal.h>
#include <sys/epoll.h>
#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(void *arg, int fd, uint32_t events);
typedef void (*loop_timer_cb)(void *arg);
typedef void (*loop_signal_cb)(void *arg, int signo);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* events are EPOLLIN/EPOLLOUT/...; the callback gets the events that fired. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);

/* A one-shot timer on CLOCK_BOOTTIME (a timerfd): fires once at an absolute time. */
struct loop_timer *loop_timer_new(struct loop *l, loop_timer_cb cb, void *arg);
void loop_timer_at(struct loop_timer *t, int64_t at_ns);
void loop_timer_after(struct loop_timer *t, int64_t delay_ns);
void loop_timer_stop(struct loop_timer *t);
int loop_timer_armed(const struct loop_timer *t);
void loop_timer_free(struct loop_timer *t);

/* Blocks the given signals and delivers them through a signalfd. */
int loop_add_signals(struct loop *l, const int *signals, int n, loop_signal_cb cb, void *arg);

/* Runs until loop_stop; returns 0, or -1 if epoll failed. */
int loop_run(struct loop *l);
/* Runs one round of dispatch waiting at most timeout_ms (-1 forever). */
int loop_once(struct loop *l, int timeout_ms);
void loop_stop(struct loop *l);

#endif
