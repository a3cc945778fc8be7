#include "ck_internal.h"

#include <stdio.h>
#include <string.h>

/* One message per thread so that models used on different threads do not
 * overwrite each other's errors. */
static _Thread_local char last_message[1024];
static _Thread_local ck_status last_status;

ck_status ck_error(ck_status status, const char *fmt, ...)
{
    /* Callers often wrap the previous message ("layer x: %s",
     * ck_last_error()), so format into a copy: vsnprintf must not read
     * from the buffer it writes. */
    char message[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(last_message, message, sizeof message);
    last_status = status;
    return status;
}

void ck_clear_error(void)
{
    last_message[0] = '\0';
    last_status = CK_OK;
}

ck_status ck_error_status(void)
{
    return last_status;
}

const char *ck_last_error(void)
{
    return last_message;
}

const char *ck_status_name(ck_status status)
{
    switch (status) {
    case CK_OK:
        return "CK_OK";
    case CK_ERR_ARGUMENT:
        return "CK_ERR_ARGUMENT";
    case CK_ERR_SHAPE:
        return "CK_ERR_SHAPE";
    case CK_ERR_NAME:
        return "CK_ERR_NAME";
    case CK_ERR_STATE:
        return "CK_ERR_STATE";
    case CK_ERR_MEMORY:
        return "CK_ERR_MEMORY";
    case CK_ERR_IO:
        return "CK_ERR_IO";
    case CK_ERR_FORMAT:
        return "CK_ERR_FORMAT";
    case CK_ERR_UNSUPPORTED:
        return "CK_ERR_UNSUPPORTED";
    case CK_ERR_NUMERIC:
        return "CK_ERR_NUMERIC";
    case CK_ERR_STOPPED:
        return "CK_ERR_STOPPED";
    }
    return "CK_ERR_UNKNOWN";
}
