/* libFuzzer target for text tables (src/io/csv_array.c): any bytes must
 * give a table whose size matches its shape, or fail with a status and a
 * message and no table, without reading outside the text. */
#include "ck_io.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the text. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    ck_tensor t;
    memset(&t, 0xA5, sizeof t);
    ck_status st = ck_csv_parse(text, size, "fuzz", &t);
    if (st == CK_OK) {
        if (t.rank != 2 || t.dims[0] < 1 || t.dims[1] < 1)
            __builtin_trap();
        volatile float sink = 0.0f;
        for (int64_t i = 0; i < t.dims[0] * t.dims[1]; i++)
            sink += t.data[i];
        (void)sink;
        ck_free(t.data);
    } else if (t.data != NULL || ck_last_error()[0] == '\0') {
        __builtin_trap();
    }
    free(text);
    return 0;
}
