/*
 * conf_db.c: conf_load and conf_parse, which check [cluster] database with libpq's own
 * conninfo parser (conf.h: conf_conninfo_rule). Apart from conf.c so that only the
 * programs that connect link libpq.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "conf.h"

/* A libpq passfile others can read is ignored by libpq with only a warning on stderr,
 * and authentication then fails for no visible reason: say so at -t. */
static int check_passfile(const char *path, char *why, size_t whylen)
{
    struct stat st;
    if (*path != '/')
        snprintf(why, whylen, "passfile '%s' is not an absolute path", path);
    else if (stat(path, &st) < 0)
        snprintf(why, whylen, "passfile %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, whylen, "passfile %s: not a regular file", path);
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        snprintf(why, whylen, "passfile %s is accessible by group or others (mode %04o); "
                 "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
    else
        return 0;
    return -1;
}

int conf_conninfo_check(const char *conninfo, const char *file, int file_private, char *why,
                        size_t whylen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts == NULL) {
        snprintf(why, whylen, "not a libpq conninfo: %s", msg ? msg : "out of memory");
        for (char *q = why; *q; q++)
            if (*q == '\n')
                *q = *(q + 1) ? ' ' : '\0';
        PQfreemem(msg);
        return -1;
    }
    int rc = 0;
    for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++) {
        if (o->val == NULL || !*o->val)
            continue;
        if (!strcmp(o->keyword, "password") && !file_private) {
            snprintf(why, whylen, "holds a password but %s is readable by group or others: "
                     "chmod 600 it, or move the conninfo to database_file, or use a libpq "
                     "passfile", file);
            rc = -1;
        } else if (!strcmp(o->keyword, "passfile")) {
            rc = check_passfile(o->val, why, whylen);
        }
    }
    PQconninfoFree(opts);
    return rc;
}

int conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
    return conf_load_with(path, c, conf_conninfo_check, err, errlen);
}

int conf_parse(const char *name, const char *text, size_t len, struct conf *c, char *err,
               size_t errlen)
{
    return conf_parse_with(name, text, len, c, conf_conninfo_check, err, errlen);
}
