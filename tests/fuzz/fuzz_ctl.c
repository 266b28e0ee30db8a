/*
 * fuzz_ctl.c: ctl_parse, the validation every control-socket message goes through
 * (DESIGN §4), on arbitrary bytes. A message it accepts must be an object with a
 * string "cmd"/"event" (or a reply), and must survive a dump and re-parse, since
 * daemons forward and log what they received.
 */
// fuzz-sources:
// fuzz-libs:
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];

    err[0] = '\0';
    json_t *msg = ctl_parse((const char *)data, size, err, sizeof(err));
    if (msg == NULL) {
        if (err[0] == '\0' || strlen(err) >= sizeof(err))
            abort(); /* a refusal must say why */
        return 0;
    }
    if (!json_is_object(msg))
        abort();
    json_t *cmd = json_object_get(msg, "cmd"), *event = json_object_get(msg, "event");
    if ((cmd && !json_is_string(cmd)) || (event && !json_is_string(event)))
        abort();

    char *text = json_dumps(msg, JSON_COMPACT);
    if (text == NULL)
        abort();
    size_t len = strlen(text);
    if (len <= CTL_MAX_MSG) {
        json_t *again = ctl_parse(text, len, err, sizeof(err));
        if (again == NULL || !json_equal(msg, again))
            abort();
        json_decref(again);
    }
    free(text);
    json_decref(msg);
    return 0;
}
