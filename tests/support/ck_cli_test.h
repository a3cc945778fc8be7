/* Running the built ckeras tool ($CK_BUILD_DIR/ckeras) in tests. */
#ifndef CK_CLI_TEST_H
#define CK_CLI_TEST_H

#include <stddef.h>

typedef struct run_result {
    int status;      /* exit status, or 128 + signal */
    char *out, *err; /* NUL-terminated */
    size_t out_len;  /* stdout may be binary (-o -) */
} run_result;

/* Runs ckeras with the given arguments (NULL-terminated), standard input
 * from /dev/null. */
void run_cli(run_result *r, const char *first, ...);
/* The same with the tool's address space limited to `address_space`
 * bytes (RLIMIT_AS, as 'ulimit -v'), killed by SIGALRM (status 128 + 14)
 * after `seconds`, and OpenBLAS's thread count not set for it. */
void run_cli_limited(run_result *r, unsigned long long address_space, unsigned seconds,
                     const char *first, ...);
/* The same with standard input read from the file `input`. */
void run_cli_input(run_result *r, const char *input, const char *first, ...);
void run_free(run_result *r);
/* Runs after this one get SIGALRM (status 128 + 14) when they take more
 * than `seconds` (0: no limit, the default). */
void run_cli_deadline(unsigned seconds);

/* Exit `code`, nothing on stdout, exactly one "ckeras: error: ..." line
 * on stderr that contains `needle`. */
void assert_error(const run_result *r, int code, const char *needle);
/* Exit 0 and nothing on stderr. */
void assert_success(const run_result *r);

#endif
