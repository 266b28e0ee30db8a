/* address.c: the virtual IP / virtual hostname verbs (placeholder until vip.c lands). */
#include "log.h"
#include "vipctl.h"

int cmd_up(const struct conf *c) { (void)c; log_errx("up: not implemented yet"); return EXIT_FAILED; }
int cmd_down(const struct conf *c) { (void)c; return EXIT_DONE; }
int cmd_garp(const struct conf *c) { (void)c; return EXIT_FAILED; }
void address_status(const struct conf *c, const char *holder, const char *holder_address,
                    json_t *out) { (void)c; (void)holder; (void)holder_address; (void)out; }
