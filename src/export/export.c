/* ck_model_export_c: plans the generated code of a model layer by layer,
 * has every emitter write its part, adds the public functions and writes
 * the files. Everything is generated in memory first, so a refused layer
 * leaves no file behind.
 *
 * Execution plan. A model whose input has a time axis (axis 1) runs "frame
 * by frame" as long as its layers can (rows, forward RNNs, identities,
 * causal convolutions):
 * that prefix becomes frame(), which takes one time step, and NAME_step and
 * NAME_predict both loop over it, so no buffer ever holds a whole
 * sequence. The layers after the time axis ends (an RNN's last output)
 * form post(), run once per output. A model that cannot stream runs layer
 * by layer on whole tensors. Activations ping-pong between two buffers of
 * the state, a0 and a1; the last layer writes the caller's y. */
#include "ck_export.h"
#include "ck_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 64

typedef struct plan {
    ck_exp x;
    ck_model *model;
    const ck_export_options *opts;
    char name[MAX_NAME + 1];
    ck_exp_layer *layers;
    cJSON **configs;
    int n;
    ck_shape input;
    bool streaming;
    int prefix_end;       /* layers [0, prefix_end) run frame by frame */
    size_t buf[2];        /* floats of a0 and a1 */
    size_t scratch, mask; /* floats of the shared scratch and of the mask */
} plan;

ck_export_options ck_export_default_options(void)
{
    return (ck_export_options){0};
}

/* ---------------------------------------------------------------- options */

static bool is_letter(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_identifier(const char *s)
{
    if (!is_letter(s[0]) || strlen(s) > MAX_NAME)
        return false;
    for (; *s; s++)
        if (!is_letter(*s) && !(*s >= '0' && *s <= '9'))
            return false;
    return true;
}

/* The model's name made into an identifier ("my-model" -> "my_model"). */
static void default_name(const char *model_name, char *out)
{
    size_t n = 0;
    if (!is_letter(model_name[0]))
        out[n++] = 'm';
    for (const char *p = model_name; *p && n < MAX_NAME; p++)
        out[n++] = is_letter(*p) || (*p >= '0' && *p <= '9') ? *p : '_';
    out[n] = '\0';
}

static ck_status check_options(plan *p)
{
    const ck_export_options *o = p->opts;
    if (!o->c_path || !o->c_path[0])
        return ck_error(CK_ERR_ARGUMENT, "ck_model_export_c: c_path is required");
    if (o->header_path && strcmp(o->header_path, o->c_path) == 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_export_c: header_path and c_path are the same file");
    if ((unsigned)o->quantize > CK_EXPORT_INT8)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_export_c: unknown quantize value %d",
                        (int)o->quantize);
    if (o->timesteps < 0)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_export_c: timesteps must be positive");
    if (o->name && !is_identifier(o->name))
        return ck_error(
            CK_ERR_ARGUMENT,
            "export name '%s' is not a C identifier of at most %d characters (letters, digits, _)",
            o->name, MAX_NAME);
    if (o->name)
        snprintf(p->name, sizeof p->name, "%s", o->name);
    else
        default_name(ck_model_name(p->model), p->name);
    return CK_OK;
}

/* The concrete input shape (batch 1): an open time axis takes
 * opts->timesteps or the sample's length; other open axes are refused. */
static ck_status input_shape(plan *p)
{
    const ck_shape *in = &p->model->input->out_shape;
    const ck_tensor *sample = p->opts->sample;
    /* Only an InputLayer that casts to its dtype runs. */
    if (p->model->input->ops->forward)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "cannot export model '%s': its input casts what is fed to a dtype other "
                        "than float32, which the exported code does not do",
                        p->model->name);
    p->input = *in;
    p->input.dims[0] = 1;
    for (int i = 1; i < in->rank; i++) {
        if (in->dims[i] > 0)
            continue;
        int64_t given = p->opts->timesteps                   ? p->opts->timesteps
                        : sample && sample->rank == in->rank ? sample->dims[i]
                                                             : 0;
        if (i != 1 || given <= 0)
            return ck_error(
                CK_ERR_UNSUPPORTED,
                "cannot export model '%s': input axis %d is open (None); give the number of "
                "timesteps (timesteps, --timesteps N) or a sample input",
                p->model->name, i);
        p->input.dims[i] = given;
    }
    p->x.timesteps = p->input.rank >= 2 ? p->input.dims[1] : 0;
    return CK_OK;
}

/* ---------------------------------------------------------------- plan */

static size_t rows_of(const ck_shape *s)
{
    return ck_exp_size(s) / (size_t)s->dims[s->rank - 1];
}

/* Which layers pass a mask on, as ck_model_forward decides it. */
static void mask_flow(const ck_layer *l, ck_exp_layer *L)
{
    if (!l->ops->compute_mask)
        L->mask_out = false;
    else if (l->ops->compute_mask == ck_mask_pass)
        L->mask_out = L->mask_in;
    if (L->mask_out && !L->makes_mask && rows_of(&L->in) != rows_of(&L->out))
        L->mask_out = false;
}

static ck_status plan_layer(plan *p, int i, const ck_shape *in, bool mask)
{
    ck_layer *l = p->model->layers[i];
    ck_exp_layer *L = &p->layers[i];
    *L = (ck_exp_layer){.cls = l->ops->class_name,
                        .name = l->name,
                        .w = l->weights,
                        .n_w = l->n_weights,
                        .in = *in,
                        .mask_in = mask};
    snprintf(L->id, sizeof L->id, "l%d", i);
    L->em = ck_exp_emitter_find(L->cls);
    if (!L->em)
        return ck_exp_refuse(L, "the %s layer has no C exporter", L->cls);
    if (!(p->configs[i] = cJSON_CreateObject()))
        return ck_error(CK_ERR_MEMORY, "out of memory reading the config of layer '%s'", l->name);
    CK_TRY(l->ops->get_config(l, p->configs[i]));
    L->cfg = p->configs[i];
    CK_TRY(l->ops->output_shape(l, in, &L->out));
    CK_TRY(L->em->plan(&p->x, L));
    mask_flow(l, L);
    if (L->makes_mask && L->out.rank != 3)
        return ck_exp_refuse(
            L, "a mask on a rank-%d output is not exported (only (batch, steps, features))",
            L->out.rank);
    if (L->scratch > p->scratch)
        p->scratch = L->scratch;
    return CK_OK;
}

/* Whether layer L can be part of the frame-by-frame prefix of a sequence
 * of T steps. */
static bool steps_in_frames(const ck_exp_layer *L, int64_t T)
{
    size_t frame_in = ck_exp_size(&L->in) / (size_t)T;
    if (!L->steps || L->in.rank < 2 || L->in.dims[1] != T)
        return false;
    if (L->kind == CK_EXP_ROW && frame_in % L->row_in != 0)
        return false;
    return L->collapses || (L->out.rank >= 2 && L->out.dims[1] == T);
}

static void plan_streaming(plan *p)
{
    int64_t T = p->x.timesteps;
    p->streaming = false;
    p->prefix_end = 0;
    if (p->input.rank < 2)
        return;
    for (int i = 0; i < p->n; i++) {
        ck_exp_layer *L = &p->layers[i];
        if (!steps_in_frames(L, T))
            return;
        if (L->collapses) {
            p->prefix_end = i + 1;
            break;
        }
        p->prefix_end = i + 1;
    }
    p->streaming = p->prefix_end > 0;
    for (int i = 0; p->streaming && i < p->prefix_end; i++)
        p->layers[i].frame_mode = true;
}

static ck_status plan_model(plan *p)
{
    ck_shape cur = p->input;
    bool mask = false;
    for (int i = 0; i < p->n; i++) {
        CK_TRY(plan_layer(p, i, &cur, mask));
        cur = p->layers[i].out;
        mask = p->layers[i].mask_out;
    }
    plan_streaming(p);
    for (int i = 0; i < p->n; i++) {
        const ck_exp_layer *L = &p->layers[i];
        size_t need = L->frame_mode ? 1 : (size_t)L->out.dims[1];
        if (L->makes_mask && need > p->mask)
            p->mask = need;
    }
    return CK_OK;
}

/* ---------------------------------------------------------------- chains */

/* Values per frame (one time step) of a tensor in the streaming prefix. */
static size_t frame_size(const plan *p, const ck_shape *s, bool collapsed)
{
    size_t n = ck_exp_size(s);
    return collapsed ? n : n / (size_t)p->x.timesteps;
}

static void call_layer(plan *p, const ck_exp_layer *L, const char *in, const char *out)
{
    ck_text *c = &p->x.code;
    if (L->kind == CK_EXP_ROW) {
        size_t n_in = L->frame_mode ? frame_size(p, &L->in, false) : ck_exp_size(&L->in);
        size_t rows = n_in / L->row_in;
        if (rows == 1)
            ck_text_printf(c, "    %s_row(%s, %s, s, 0);\n", L->id, in, out);
        else
            ck_text_printf(c,
                           "    for (int r = 0; r < %zu; r++)\n"
                           "        %s_row(%s + (long)r * %zu, %s + (long)r * %zu, s, r);\n",
                           rows, L->id, in, L->row_in, out, L->row_out);
    } else {
        ck_text_printf(c, "    %s_%s(%s, %s, s);\n", L->id, L->frame_mode ? "step" : "forward", in,
                       out);
    }
}

/* Emits the calls of layers [from, to) reading `in`; the last layer that
 * computes anything writes `final` (NULL: a state buffer). Returns the
 * expression holding the result (static storage). */
static const char *emit_chain(plan *p, int from, int to, const char *in, const char *final)
{
    static const char *const bufs[] = {"s->a0", "s->a1"};
    int last = -1;
    for (int i = from; i < to; i++)
        if (p->layers[i].kind != CK_EXP_ALIAS)
            last = i;
    const char *cur = in;
    for (int i = from; i < to; i++) {
        const ck_exp_layer *L = &p->layers[i];
        if (L->kind == CK_EXP_ALIAS)
            continue;
        int b = strcmp(cur, bufs[0]) == 0 ? 1 : 0;
        const char *out = i == last && final ? final : bufs[b];
        if (out == bufs[b]) {
            size_t n = L->frame_mode ? frame_size(p, &L->out, L->collapses) : ck_exp_size(&L->out);
            p->buf[b] = n > p->buf[b] ? n : p->buf[b];
        }
        call_layer(p, L, cur, out);
        cur = out;
    }
    return cur;
}

static size_t out_size(const plan *p)
{
    return ck_exp_size(&p->layers[p->n - 1].out);
}

/* Copies `from` into y unless the chain already wrote it there. */
static void emit_copy_out(plan *p, const char *from, const char *to, size_t n)
{
    if (strcmp(from, to) != 0)
        ck_text_printf(&p->x.code, "    memcpy(%s, %s, sizeof(float) * %zu);\n", to, from, n);
}

static void emit_streaming_api(plan *p)
{
    ck_text *c = &p->x.code;
    const char *nm = p->name;
    const ck_exp_layer *last = &p->layers[p->prefix_end - 1];
    size_t fi = frame_size(p, &p->input, false), fo = frame_size(p, &last->out, last->collapses);
    bool post = p->prefix_end < p->n;
    ck_text_printf(c,
                   "/* One time step through the layers before the time axis ends. */\n"
                   "static const float *frame(const float *x, %s_state *s)\n{\n    (void)s;\n",
                   nm);
    const char *fr = emit_chain(p, 0, p->prefix_end, "x", NULL);
    ck_text_printf(c, "    return %s;\n}\n\n", fr);
    if (post) {
        ck_text_printf(c,
                       "/* The layers after the time axis, on frame()'s output. */\n"
                       "static void post(float *y, %s_state *s)\n{\n",
                       nm);
        emit_copy_out(p, emit_chain(p, p->prefix_end, p->n, fr, "y"), "y", out_size(p));
        ck_text_printf(c, "}\n\n");
    }
    ck_text_printf(c, "void %s_step(const float *x_t, float *y, %s_state *s)\n{\n", nm, nm);
    if (post)
        ck_text_printf(c, "    frame(x_t, s);\n    post(y, s);\n}\n\n");
    else
        ck_text_printf(c, "    memcpy(y, frame(x_t, s), sizeof(float) * %zu);\n}\n\n", fo);
    ck_text_printf(c, "void %s_predict(const float *x, float *y, %s_state *s)\n{\n", nm, nm);
    for (int i = 0; i < p->prefix_end; i++)
        if (p->layers[i].begins)
            ck_text_printf(c, "    %s_begin(s, %d);\n", p->layers[i].id,
                           !p->layers[i].rnn.stateful);
    ck_text_printf(c, "%s    for (int t = 0; t < %lld; t++)\n",
                   last->collapses && !post ? "    const float *o = x;\n" : "",
                   (long long)p->x.timesteps);
    if (post)
        ck_text_printf(c, "        frame(x + (long)t * %zu, s);\n    post(y, s);\n}\n\n", fi);
    else if (last->collapses) /* only the last frame's output is the model's */
        ck_text_printf(
            c,
            "        o = frame(x + (long)t * %zu, s);\n    memcpy(y, o, sizeof(float) * %zu);\n}\n\n",
            fi, fo);
    else
        ck_text_printf(
            c,
            "        memcpy(y + (long)t * %zu, frame(x + (long)t * %zu, s), sizeof(float) * %zu);\n}\n\n",
            fo, fi, fo);
}

static void emit_whole_api(plan *p)
{
    ck_text *c = &p->x.code;
    ck_text_printf(c, "void %s_predict(const float *x, float *y, %s_state *s)\n{\n", p->name,
                   p->name);
    const char *res = emit_chain(p, 0, p->n, "x", "y");
    emit_copy_out(p, res, "y", out_size(p));
    if (strcmp(res, "x") == 0) /* every layer is an identity */
        ck_text_printf(c, "    (void)s;\n");
    ck_text_printf(c, "}\n\n");
}

static ck_status emit_layers(plan *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->layers[i].em->emit)
            CK_TRY(p->layers[i].em->emit(&p->x, &p->layers[i]));
    if (p->streaming)
        emit_streaming_api(p);
    else
        emit_whole_api(p);
    ck_text_printf(&p->x.code, "void %s_reset(%s_state *s)\n{\n    memset(s, 0, sizeof *s);\n}\n",
                   p->name, p->name);
    return CK_OK;
}

/* ---------------------------------------------------------------- files */

static void format_dims(const ck_shape *s, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 1; i < s->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%lld", i > 1 ? ", " : "", (long long)s->dims[i]);
}

static size_t state_bytes(const plan *p)
{
    size_t n = p->x.state_floats + (p->buf[0] ? p->buf[0] : 1) + (p->buf[1] ? p->buf[1] : 1);
    n += p->scratch + p->x.acc_floats + p->mask;
    return n * sizeof(float);
}

static void upper(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    out[i] = '\0';
}

/* The declarations: shapes, the state and the functions. */
static void emit_declarations(const plan *p, ck_text *t)
{
    const char *nm = p->name;
    char in[128], out[128], guard[MAX_NAME + 8];
    const ck_shape *os = &p->layers[p->n - 1].out;
    format_dims(&p->input, in, sizeof in);
    format_dims(os, out, sizeof out);
    upper(nm, guard, sizeof guard);
    ck_text_printf(t,
                   "#ifndef %s_H\n#define %s_H\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
                   guard, guard);
    ck_text_printf(
        t, "#define %s_INPUT_RANK %d\n#define %s_INPUT_SHAPE {%s}\n#define %s_INPUT_SIZE %zu\n", nm,
        p->input.rank - 1, nm, in, nm, ck_exp_size(&p->input));
    ck_text_printf(
        t, "#define %s_OUTPUT_RANK %d\n#define %s_OUTPUT_SHAPE {%s}\n#define %s_OUTPUT_SIZE %zu\n",
        nm, os->rank - 1, nm, out, nm, ck_exp_size(os));
    if (p->streaming) {
        const ck_exp_layer *last = &p->layers[p->prefix_end - 1];
        size_t fo = p->prefix_end < p->n ? ck_exp_size(os)
                                         : frame_size(p, &last->out, last->collapses);
        ck_text_printf(
            t,
            "#define %s_TIMESTEPS %lld\n#define %s_FRAME_SIZE %zu\n#define %s_STEP_OUTPUT_SIZE %zu\n",
            nm, (long long)p->x.timesteps, nm, frame_size(p, &p->input, false), nm, fo);
    }
    ck_text_printf(t, "#define %s_STATE_BYTES %zu\n#define %s_WEIGHT_BYTES %zu\n\n", nm,
                   state_bytes(p), nm, p->x.weight_bytes);
    ck_text_printf(
        t,
        "/* Everything the model keeps between and during calls. */\ntypedef struct %s_state {\n",
        nm);
    ck_text_printf(t, "    float a0[%zu];\n    float a1[%zu];\n", p->buf[0] ? p->buf[0] : 1,
                   p->buf[1] ? p->buf[1] : 1);
    if (p->scratch)
        ck_text_printf(t, "    float scratch[%zu];\n", p->scratch);
    if (p->x.acc_floats)
        ck_text_printf(t, "    float acc[%zu];\n", p->x.acc_floats);
    if (p->mask)
        ck_text_printf(t, "    float mask[%zu];\n", p->mask);
    ck_text_append(t, p->x.state.buf ? p->x.state.buf : "", p->x.state.len);
    ck_text_printf(t, "} %s_state;\n\n", nm);
    ck_text_printf(t,
                   "/* x: %s_INPUT_SIZE floats, y: %s_OUTPUT_SIZE floats (not overlapping x). */\n"
                   "void %s_predict(const float *x, float *y, %s_state *s);\n",
                   nm, nm, nm, nm);
    if (p->streaming)
        ck_text_printf(
            t,
            "/* x_t: %s_FRAME_SIZE floats (one time step), y: %s_STEP_OUTPUT_SIZE floats. */\n"
            "void %s_step(const float *x_t, float *y, %s_state *s);\n",
            nm, nm, nm, nm);
    ck_text_printf(
        t,
        "/* Zeroes the state (a zeroed state is a reset one). */\nvoid %s_reset(%s_state *s);\n\n",
        nm, nm);
    ck_text_printf(t, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s_H */\n", guard);
}

static const char *weights_label(ck_export_quantize q)
{
    static const char *const labels[] = {
        "float32", "float16 kernels, float32 biases",
        "int8 kernels with a float scale per output channel, float32 biases"};
    return labels[q];
}

static void emit_sources(const plan *p, ck_text *t)
{
    for (int i = 0; i < 4 && p->opts->sources[i]; i++) {
        char hex[65];
        if (ck_exp_sha256_file(p->opts->sources[i], hex) == CK_OK)
            ck_text_printf(t, " * Source:  %s (SHA-256 %s)\n", p->opts->sources[i], hex);
        else
            ck_text_printf(t, " * Source:  %s\n", p->opts->sources[i]);
    }
}

static ck_status emit_summary(const plan *p, ck_text *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return ck_error(CK_ERR_MEMORY, "out of memory writing the summary");
    ck_status st = ck_model_summary(
        p->model, f, p->x.semantics == CK_KERAS3 ? CK_SUMMARY_KERAS3 : CK_SUMMARY_KERAS2);
    fclose(f);
    for (char *line = buf, *next; st == CK_OK && line && *line; line = next) {
        next = strchr(line, '\n');
        int n = next ? (int)(next - line) : (int)strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            n--;
        ck_text_printf(t, " *   %.*s\n", n, line);
        next = next ? next + 1 : NULL;
    }
    free(buf);
    return st;
}

static ck_status emit_comment(const plan *p, ck_text *t, const char *file)
{
    char in[128], out[128];
    format_dims(&p->input, in, sizeof in);
    format_dims(&p->layers[p->n - 1].out, out, sizeof out);
    ck_text_printf(t, "/*\n * %s: Keras model \"%s\" exported by ckeras %s. Do not edit.\n", file,
                   p->model->name, CK_VERSION_STRING);
    ck_text_printf(
        t,
        " * C99 that needs only <math.h>, <stdint.h> and <string.h>: no heap, no global\n"
        " * mutable state; all RAM is the %s_state the caller passes.\n *\n",
        p->name);
    emit_sources(p, t);
    ck_text_printf(t, " * Keras:   %s semantics (hard_sigmoid is %s)\n",
                   p->x.semantics == CK_KERAS3 ? "Keras 3" : "Keras 2",
                   p->x.semantics == CK_KERAS3 ? "clip(x / 6 + 0.5, 0, 1)"
                                               : "clip(0.2 x + 0.5, 0, 1)");
    ck_text_printf(t, " * Options: name %s, weights %s\n", p->name,
                   weights_label(p->opts->quantize));
    ck_text_printf(t, " * Weights: %zu parameters in %zu bytes of constant data\n",
                   ck_model_count_params(p->model), p->x.weight_bytes);
    ck_text_printf(t, " * State:   %zu bytes (%s_STATE_BYTES)\n", state_bytes(p), p->name);
    ck_text_printf(t, " * Input (%s), output (%s)%s\n", in, out,
                   p->streaming ? "; streams one time step at a time with _step" : "");
    ck_text_printf(t, " *\n * Keras summary:\n");
    CK_TRY(emit_summary(p, t));
    ck_text_printf(t, " */\n");
    return CK_OK;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static ck_status build_source(plan *p, ck_text *src)
{
    CK_TRY(emit_comment(p, src, base_name(p->opts->c_path)));
    if (p->opts->header_path)
        ck_text_printf(src, "#include \"%s\"\n\n", base_name(p->opts->header_path));
    else
        emit_declarations(p, src);
    ck_text_printf(src, "\n#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    ck_text_printf(
        src, "typedef char %s_state_size_check[sizeof(%s_state) == %s_STATE_BYTES ? 1 : -1];\n\n",
        p->name, p->name, p->name);
    ck_text_append(src, p->x.weights.buf ? p->x.weights.buf : "", p->x.weights.len);
    ck_text_printf(src, "\n");
    ck_exp_helpers_emit(&p->x, src);
    ck_text_append(src, p->x.code.buf ? p->x.code.buf : "", p->x.code.len);
    return CK_OK;
}

static ck_status write_files(plan *p)
{
    ck_text src = {0}, hdr = {0};
    ck_status st = build_source(p, &src);
    if (st == CK_OK && p->opts->header_path) {
        st = emit_comment(p, &hdr, base_name(p->opts->header_path));
        emit_declarations(p, &hdr);
    }
    if (st == CK_OK &&
        (src.failed || hdr.failed || p->x.code.failed || p->x.weights.failed || p->x.state.failed))
        st = ck_error(CK_ERR_MEMORY, "out of memory generating %s", p->opts->c_path);
    /* The .c includes the .h: they are replaced together or not at all. */
    ck_io_group *g = st == CK_OK ? ck_io_group_begin() : NULL;
    if (g && p->opts->header_path)
        st = ck_io_atomic_bytes(p->opts->header_path, hdr.buf, hdr.len);
    if (g && st == CK_OK)
        st = ck_io_atomic_bytes(p->opts->c_path, src.buf, src.len);
    if (st == CK_OK || g)
        st = ck_io_group_end(g, st);
    ck_text_free(&src);
    ck_text_free(&hdr);
    return st;
}

/* ---------------------------------------------------------------- entry */

static void layer_free(ck_exp_layer *L)
{
    for (int i = 0; i < L->n_sub; i++)
        layer_free(&L->sub[i]);
    free(L->sub);
    free(L->priv);
}

static void plan_free(plan *p)
{
    for (int i = 0; p->configs && p->layers && i < p->n; i++) {
        cJSON_Delete(p->configs[i]);
        layer_free(&p->layers[i]);
    }
    free(p->configs);
    free(p->layers);
    ck_text_free(&p->x.weights);
    ck_text_free(&p->x.code);
    ck_text_free(&p->x.state);
    free(p->x.rounded);
}

static ck_status export_model(plan *p)
{
    CK_TRY(check_options(p));
    CK_TRY(ck_model_build(p->model));
    if (p->model->n_layers == 0)
        return ck_error(CK_ERR_UNSUPPORTED, "cannot export model '%s': it has no layers",
                        p->model->name);
    p->n = p->model->n_layers;
    bool tf_keras;
    p->x = (ck_exp){.name = p->name,
                    .semantics = p->model->semantics,
                    .keras_release = ck_model_keras_release(p->model, &tf_keras),
                    .store = (ck_exp_store)p->opts->quantize};
    p->layers = ck_alloc((size_t)p->n, sizeof *p->layers);
    p->configs = ck_alloc((size_t)p->n, sizeof *p->configs);
    if (!p->layers || !p->configs)
        return CK_ERR_MEMORY;
    CK_TRY(input_shape(p));
    CK_TRY(plan_model(p));
    CK_TRY(emit_layers(p));
    if (p->opts->report) {
        CK_TRY(ck_exp_report(p->model, &p->x, &p->input, out_size(p), p->opts, p->opts->report));
        snprintf(p->opts->report->name, sizeof p->opts->report->name, "%s", p->name);
        p->opts->report->state_bytes = state_bytes(p);
        p->opts->report->streaming = p->streaming;
        p->opts->report->timesteps = p->input.rank >= 3 || p->streaming ? p->input.dims[1] : 0;
    }
    return write_files(p);
}

ck_status ck_model_export_c(ck_model *model, const ck_export_options *opts)
{
    if (!model || !opts)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_export_c: model and options are required");
    plan p = {.model = model, .opts = opts};
    /* The report swaps rounded weights in and out: no other call may run. */
    ck_status st;
    CK_GUARDED(st, model, CK_ACCESS_UPDATE, "ck_model_export_c", export_model(&p));
    plan_free(&p);
    return st;
}
