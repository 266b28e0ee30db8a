/*
 * fuzz_config.c: conf_parse on arbitrary bytes. Besides "no crash, no leak, no
 * overread" (the input is not NUL-terminated), checks what a successful parse
 * promises the daemons: the timing safety rule of DESIGN §3 and sane list counts.
 */
// fuzz-sources:
// fuzz-libs:
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static struct conf conf; /* too large for a comfortable stack frame */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];

    err[0] = '\0';
    if (conf_parse("fuzz.conf", (const char *)data, size, &conf, err, sizeof(err)) < 0) {
        /* Every error names the file first, so -t output is always "file:...". */
        if (strncmp(err, "fuzz.conf:", 10) != 0 || strlen(err) >= sizeof(err))
            abort();
        return 0;
    }
    if (!conf.cluster[0] || !conf.node[0] || !conf.database[0])
        abort();
    if (!(conf.interval_ns < conf.fence_after_ns &&
          conf.fence_after_ns < conf.takeover_timeout_ns))
        abort();
    if (conf.n_sync_paths < 0 || conf.n_sync_paths > CONF_MAX_LIST ||
        conf.n_sync_exclude < 0 || conf.n_sync_exclude > CONF_MAX_LIST ||
        conf.n_sync_peers < 0 || conf.n_sync_peers > CONF_MAX_LIST)
        abort();
    for (int i = 0; i < conf.n_sync_paths; i++)
        if (conf.sync_paths[i][0] != '/')
            abort();
    for (int i = 0; i < conf.n_sync_peers; i++)
        if (!conf.sync_peers[i].host[0] || conf.sync_peers[i].port < 1 ||
            conf.sync_peers[i].port > 65535)
            abort();
    if (conf.connection == CONN_VIP && (conf.vip_prefix < 0 || conf.vip_prefix > 128))
        abort();
    return 0;
}
