/* The documentation runs as written. Every block of README.md and then of
 * the pages docs/NAME.md (in name order) that follows a line
 *     <!-- runnable[: WORD ...] -->
 * runs in one scratch folder, in the order of the text, so a later block
 * may use what an earlier one made (the flagship's action.h5, the data a
 * shown command wrote). The folder looks like the repository root after
 * the README's first command: build/ is this build, include/ the headers,
 * ../shared the shared material, and `ckeras` is on the PATH.
 *
 * A block is
 *  - a transcript when it has "$ " lines: each command (with its "\"
 *    continuation lines) runs in its own shell, which starts with the
 *    previous command's exit status (for `echo $?`), and what it prints,
 *    stdout and stderr, must be the lines the block shows up to the next
 *    "$ ", trailing blanks aside; a "..." line stands for any lines, and a
 *    line ending in " ..." for any line that starts the same. A
 *    command the block shows no output for must succeed;
 *  - otherwise a script that must succeed (its output is not compared).
 * WORDs: `file NAME` writes the block to NAME instead (a C program that a
 * later block compiles); `after-build` runs each line from its last "&& "
 * on, skipping the set-up and build steps ctest has already done;
 * `needs-shared` skips the block (and reports SKIP) without ../shared.
 *
 * CK_DOCS_SHOW=1 prints every command with what it printed. */
#define _DEFAULT_SOURCE /* realpath */

#include "ck_test.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER "<!-- runnable"
#define MAX_LINES 4096

/* Under the sanitizers the blocks are read but not run: the flagship
 * trains too slowly there, and the plain build runs them. */
#ifdef CK_TEST_UNDER_SANITIZER
static const bool dry_run = true;
#else
static const bool dry_run = false;
#endif

typedef struct doc {
    const char *name;
    char *text;
    char *lines[MAX_LINES];
    int n;
} doc;

typedef struct block {
    const doc *d;
    int first, end; /* lines [first, end) between the fences */
    char file[256];
    bool after_build, needs_shared;
} block;

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
        ck_assert_ptr_nonnull(buf);
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void load_doc(doc *d, const char *name)
{
    d->name = name;
    d->text = read_all(name);
    d->n = 0;
    for (char *line = d->text; *line;) {
        ck_assert_msg(d->n < MAX_LINES, "%s has too many lines", name);
        d->lines[d->n++] = line;
        char *end = strchr(line, '\n');
        if (!end)
            break;
        *end = '\0';
        line = end + 1;
    }
}

/* Trailing blanks do not count in the comparison, nor do blank lines. */
static void rstrip(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static void parse_marker(const char *line, block *b)
{
    const char *w = strchr(line, ':');
    char words[512];
    snprintf(words, sizeof words, "%s", w ? w + 1 : "");
    char *save = NULL;
    for (char *t = strtok_r(words, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (strcmp(t, "after-build") == 0)
            b->after_build = true;
        else if (strcmp(t, "needs-shared") == 0)
            b->needs_shared = true;
        else if (strcmp(t, "file") == 0 && (t = strtok_r(NULL, " ", &save)))
            snprintf(b->file, sizeof b->file, "%s", t);
        else
            ck_assert_msg(strcmp(t, "-->") == 0, "unknown runnable word '%s'", t);
    }
}

/* The runnable block whose marker is at or after line *at; false at the end. */
static bool next_block(const doc *d, int *at, block *b)
{
    for (int i = *at; i < d->n; i++) {
        if (strncmp(d->lines[i], MARKER, strlen(MARKER)) != 0)
            continue;
        *b = (block){.d = d, .first = i + 2};
        parse_marker(d->lines[i], b);
        ck_assert_msg(i + 1 < d->n && strncmp(d->lines[i + 1], "```", 3) == 0,
                      "%s:%d: a runnable marker must be followed by a fenced block", d->name,
                      i + 1);
        int end = b->first;
        while (end < d->n && strncmp(d->lines[end], "```", 3) != 0)
            end++;
        ck_assert_msg(end < d->n, "%s:%d: unclosed block", d->name, i + 2);
        b->end = end;
        *at = end + 1;
        return true;
    }
    return false;
}

/* Runs a shell command in the scratch folder after setting $? to `status`;
 * returns what it printed (malloc'ed) and its exit status. */
static char *run_shell(const char *command, int status, int *exit_status)
{
    size_t len = strlen(command) + 64;
    char *script = malloc(len);
    snprintf(script, len, "exec 2>&1; (exit %d); %s", status, command);
    FILE *p = popen(script, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    for (size_t got; (got = fread(out + n, 1, cap - n - 1, p)) > 0;) {
        n += got;
        if (n + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    int rc = pclose(p);
    *exit_status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
    free(script);
    if (getenv("CK_DOCS_SHOW"))
        printf("$ %s\n%s[exit %d]\n", command, out, *exit_status);
    return out;
}

/* Where a number with a fraction or an exponent starts at s, its value and
 * end; integers (counts, shapes, epochs) are left to the exact comparison. */
static bool real_at(const char *s, double *value, const char **end)
{
    char *e;
    if (!isdigit((unsigned char)*s) && !(*s == '-' && isdigit((unsigned char)s[1])))
        return false;
    *value = strtod(s, &e);
    *end = e;
    return memchr(s, '.', (size_t)(e - s)) || memchr(s, 'e', (size_t)(e - s));
}

/* Printed reals agree when they differ by less than 5% or 1e-3: on the same
 * kernels (pin_kernels) a trained model's numbers can still move in the last
 * digits on another machine (other builds of the libraries, a CPU without
 * AVX2), and the docs must still run there. With prefix, got may go on
 * after the n shown characters. */
static bool text_matches(const char *got, const char *want, size_t n, bool prefix)
{
    const char *want_end = want + n;
    char before = ' ';
    while (want < want_end) {
        double g, w;
        const char *ge, *we;
        if (!isalnum((unsigned char)before) && real_at(got, &g, &ge) && real_at(want, &w, &we) &&
            we <= want_end) {
            if (fabs(g - w) > 1e-3 + 0.05 * fmax(fabs(g), fabs(w)))
                return false;
            before = we[-1];
            got = ge;
            want = we;
        } else if (*got == *want) {
            before = *want;
            got++;
            want++;
        } else {
            return false;
        }
    }
    return prefix || *got == '\0';
}

/* A shown line that ends in " ..." stands for every line it starts. */
static bool line_matches(const char *got, const char *want)
{
    size_t n = strlen(want);
    if (n > 4 && strcmp(want + n - 4, " ...") == 0)
        return text_matches(got, want, n - 4, true);
    return text_matches(got, want, n, false);
}

/* Whether the printed lines match the expected ones, "..." matching any run. */
static bool lines_match(char **got, int n_got, char *const *want, int n_want)
{
    if (n_want == 0)
        return n_got == 0;
    if (strcmp(want[0], "...") == 0) {
        for (int skip = 0; skip <= n_got; skip++)
            if (lines_match(got + skip, n_got - skip, want + 1, n_want - 1))
                return true;
        return false;
    }
    return n_got > 0 && line_matches(got[0], want[0]) &&
           lines_match(got + 1, n_got - 1, want + 1, n_want - 1);
}

static bool output_matches(char *out, char *const *want, int n_want)
{
    char *got[MAX_LINES];
    int n = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l && n < MAX_LINES;
         l = strtok_r(NULL, "\n", &save)) {
        rstrip(l);
        if (*l)
            got[n++] = l;
    }
    return lines_match(got, n, want, n_want);
}

static bool is_command(const char *line)
{
    return strncmp(line, "$ ", 2) == 0;
}

/* One "$ " command with its continuation lines; *i moves past them. */
static char *command_at(const block *b, int *i)
{
    size_t cap = 8192;
    char *cmd = calloc(1, cap);
    const char *line = b->d->lines[*i] + 2;
    for (;;) {
        strncat(cmd, line, cap - strlen(cmd) - 2);
        size_t n = strlen(cmd);
        (*i)++;
        if (n == 0 || cmd[n - 1] != '\\' || *i >= b->end)
            return cmd;
        strcat(cmd, "\n");
        line = b->d->lines[*i];
    }
}

static void run_transcript(const block *b)
{
    int status = 0;
    for (int i = b->first; i < b->end;) {
        int at = i + 1;
        char *cmd = command_at(b, &i);
        char *want[MAX_LINES];
        int n_want = 0;
        for (; i < b->end && !is_command(b->d->lines[i]); i++) {
            rstrip(b->d->lines[i]);
            if (b->d->lines[i][0])
                want[n_want++] = b->d->lines[i];
        }
        if (dry_run) {
            free(cmd);
            continue;
        }
        char *out = run_shell(cmd, status, &status);
        char *shown = strdup(out);
        ck_assert_msg(n_want > 0 || status == 0, "%s:%d: `%s` failed (exit %d):\n%s", b->d->name,
                      at, cmd, status, shown);
        ck_assert_msg(output_matches(out, want, n_want),
                      "%s:%d: `%s` printed what the text does not show:\n%s", b->d->name, at, cmd,
                      shown);
        free(shown);
        free(out);
        free(cmd);
    }
}

static void run_script(const block *b)
{
    size_t cap = 1 << 16;
    char *script = calloc(1, cap);
    strcat(script, "set -e\n");
    for (int i = b->first; i < b->end; i++) {
        const char *line = b->d->lines[i];
        const char *last = b->after_build ? strstr(line, "&& ") : NULL;
        for (const char *p = last; p; p = strstr(p + 3, "&& "))
            last = p;
        strncat(script, last ? last + 3 : line, cap - strlen(script) - 2);
        strcat(script, "\n");
    }
    int status = 0;
    char *out = dry_run ? NULL : run_shell(script, 0, &status);
    ck_assert_msg(status == 0, "%s:%d: the block failed (exit %d):\n%s", b->d->name, b->first,
                  status, out);
    free(out);
    free(script);
}

static void write_file(const block *b)
{
    FILE *f = fopen(b->file, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = b->first; i < b->end; i++)
        fprintf(f, "%s\n", b->d->lines[i]);
    ck_assert_int_eq(fclose(f), 0);
}

static void run_doc(const char *path, bool have_shared)
{
    doc *d = malloc(sizeof *d);
    ck_assert_ptr_nonnull(d);
    load_doc(d, path);
    block b;
    for (int at = 0; next_block(d, &at, &b);) {
        if (b.needs_shared && !have_shared) {
            ck_test_skip("%s:%d needs ../shared", path, b.first);
            continue;
        }
        bool transcript = false;
        for (int i = b.first; i < b.end; i++)
            transcript = transcript || is_command(d->lines[i]);
        if (b.file[0])
            write_file(&b);
        else if (transcript)
            run_transcript(&b);
        else
            run_script(&b);
    }
    free(d->text);
    free(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* docs/<name>.md as absolute paths, sorted. */
static int doc_pages(const char *root, char *pages[], int max)
{
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/docs", root);
    DIR *dp = opendir(dir);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < max;) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".md") == 0) {
            size_t size = strlen(dir) + len + 2;
            pages[n] = malloc(size);
            snprintf(pages[n++], size, "%s/%s", dir, e->d_name);
        }
    }
    closedir(dp);
    qsort(pages, (size_t)n, sizeof pages[0], by_name);
    return n;
}

/* A trained model's numbers follow the order in which the kernels sum, and
 * after the flagship's training its small probabilities differ by more than
 * any useful tolerance between kernel sets: 0.00048 with OpenBLAS's AVX2
 * kernels, 0.0026 with its AVX-512 ones, 0.013 with its AVX ones, and the
 * sliding window's classes change with its SSE ones. The docs show what the
 * AVX2 kernels of OpenBLAS and libxsmm print, so wherever the CPU has them
 * the blocks run on those, whatever the machine would pick. */
static void pin_kernels(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        setenv("OPENBLAS_CORETYPE", "Haswell", 1);
        setenv("LIBXSMM_TARGET", "hsw", 1);
    }
#endif
}

/* Makes SCRATCH/ckeras, with build, include and ../shared as links, and
 * enters it; puts the build on the PATH. */
static void enter_scratch(const char *root, const char *shared)
{
    const char *build = getenv("CK_BUILD_DIR");
    ck_assert_msg(build != NULL, "CK_BUILD_DIR is not set (ctest sets it)");
    char include[PATH_MAX + 16], env_path[8192];
    snprintf(include, sizeof include, "%s/include", root);
    ck_test_make_dir("ckdocs");
    ck_assert_int_eq(mkdir(ck_test_path("ckeras"), 0755), 0);
    ck_assert_int_eq(symlink(include, ck_test_path("ckeras/include")), 0);
    ck_assert_int_eq(symlink(build, ck_test_path("ckeras/build")), 0);
    if (shared)
        ck_assert_int_eq(symlink(shared, ck_test_path("shared")), 0);
    ck_assert_int_eq(chdir(ck_test_path("ckeras")), 0);
    snprintf(env_path, sizeof env_path, "%s:%s", build, getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", env_path, 1);
}

START_TEST(docs_run_as_written)
{
    char root[PATH_MAX], shared[PATH_MAX], readme[PATH_MAX + 16];
    ck_assert_ptr_nonnull(getcwd(root, sizeof root));
    bool have_shared = realpath(CK_SHARED_DIR, shared) != NULL;
    snprintf(readme, sizeof readme, "%s/README.md", root);
    char *pages[64];
    int n = doc_pages(root, pages, 64);
    enter_scratch(root, have_shared ? shared : NULL);
    pin_kernels();
    run_doc(readme, have_shared);
    for (int i = 0; i < n; i++) {
        run_doc(pages[i], have_shared);
        free(pages[i]);
    }
    ck_assert_int_eq(chdir(root), 0);
    ck_test_remove_dir();
    if (dry_run)
        ck_test_skip("the blocks were read, not run: the plain build runs them (the flagship "
                     "trains too slowly under the sanitizers)");
}
END_TEST

static Suite *docs_suite(void)
{
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("docs");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, docs_run_as_written);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(docs_suite());
}
