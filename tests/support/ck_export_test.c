#include "ck_export_test.h"

#include <stdarg.h>
#include <sys/wait.h>

int ck_export_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool ck_export_have(const char *cc)
{
    return ck_export_sh("command -v %s > /dev/null 2>&1", cc) == 0;
}

void ck_export_write_floats(const char *name, const float *v, size_t n)
{
    FILE *f = fopen(ck_test_path(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(v, sizeof *v, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

float *ck_export_read_floats(const char *name, size_t n)
{
    FILE *f = fopen(ck_test_path(name), "rb");
    ck_assert_msg(f != NULL, "%s was not written", name);
    float *v = malloc(n * sizeof *v + 1);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(fread(v, sizeof *v, n, f), n);
    fclose(f);
    return v;
}

void ck_export_files(ck_model *m, const char *c_path, const char *h_path, const char *name,
                     ck_export_quantize q, const ck_tensor *sample, ck_export_report *report)
{
    ck_export_options o = ck_export_default_options();
    o.c_path = c_path;
    o.header_path = h_path;
    o.name = name;
    o.quantize = q;
    o.sample = sample;
    o.report = report;
    ck_assert_ok(ck_model_export_c(m, &o));
}
