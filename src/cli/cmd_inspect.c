/* ckeras inspect FILE: what a Keras file holds, and for a weights-only
 * file a Keras JSON template of its architecture. */
#include "cli.h"

#include <string.h>

/* The template is printed, or written to -o; a file that has its own
 * model config needs none. */
static int template_of(const char *path, const cli_args *a)
{
    char *json = ck_file_template(path);
    if (!json && !a->output) {
        printf("\nno template: %s\n", ck_last_error());
        return CLI_OK;
    }
    if (!json)
        return cli_lib_error(path);
    int rc = CLI_OK;
    if (a->output)
        rc = ck_text_write(a->output, json) == CK_OK ? CLI_OK : cli_lib_error(a->output);
    else
        printf("\nKeras JSON template (complete the activations and timesteps, then give it with "
               "--config):\n%s\n",
               json);
    ck_free(json);
    return rc;
}

int cli_cmd_inspect(const cli_command *cmd, const cli_args *a)
{
    const char *path;
    int rc = cli_take_operands(cmd, a, &path, 1);
    if (rc == CLI_OK && a->output) {
        const char *inputs[] = {path};
        rc = cli_check_output_distinct(a->output, inputs, 1);
    }
    if (rc != CLI_OK)
        return rc;
    char *text = ck_file_describe(path);
    if (!text)
        return cli_lib_error(path);
    fputs(text, stdout);
    bool weights_only = strstr(text, "\nmodel config: no\n") != NULL;
    ck_free(text);
    return weights_only || a->output ? template_of(path, a) : CLI_OK;
}
