/* protect.c: daemon_protect_secrets (daemon.h), apart from daemon.c so that a binary can
 * have it without libsystemd (vipctl's front, front.c). */
#include <sys/prctl.h>
#include <sys/resource.h>

#include "daemon.h"
#include "log.h"

void daemon_protect_secrets(void)
{
    /* a core file or a ptrace by another user would hand out the database password, the
     * SMTP password, the TSIG key; hooks get their own (exec resets dumpable) */
    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) < 0)
        log_warn("setrlimit RLIMIT_CORE");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        log_warn("prctl PR_SET_DUMPABLE");
}
