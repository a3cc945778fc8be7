/* A confusion matrix as SVG: one cell per (true, predicted) pair, shaded
 * by the share of its true class and labelled with its count. */
#include "ck_io.h"

#include <math.h>
#include <string.h>

#define MAX_PLOTTED_CLASSES 200
#define LABEL_CHARS 24 /* class names are cut to this many bytes */
#define CHAR_W 7.0     /* about one character of the 12-pixel font */
#define TITLE_H 40.0

/* White to dark blue, by share in [0, 1]. */
static void shade(double share, char out[8])
{
    static const double light[3] = {255, 255, 255}, dark[3] = {8, 48, 107};
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = (int)lround(light[i] + (dark[i] - light[i]) * share);
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

typedef struct grid {
    int k;
    double cell, left, top;
    const char *const *names;
} grid;

static const char *name_of(const grid *g, int i, char *buf, size_t cap)
{
    if (g->names && g->names[i])
        return g->names[i];
    snprintf(buf, cap, "%d", i);
    return buf;
}

static void cells(ck_svg *s, const grid *g, const int64_t *counts)
{
    for (int r = 0; r < g->k; r++) {
        int64_t total = 0;
        for (int c = 0; c < g->k; c++)
            total += counts[r * g->k + c];
        for (int c = 0; c < g->k; c++) {
            int64_t n = counts[r * g->k + c];
            double share = total ? (double)n / (double)total : 0.0, x = g->left + c * g->cell,
                   y = g->top + r * g->cell;
            char fill[8], label[24];
            shade(share, fill);
            fprintf(s->f,
                    "<rect class=\"cell\" data-row=\"%d\" data-col=\"%d\" "
                    "data-count=\"%lld\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\"/>\n",
                    r, c, (long long)n, x, y, g->cell, g->cell, fill);
            snprintf(label, sizeof label, "%lld", (long long)n);
            ck_svg_label(s, x + g->cell / 2, y + g->cell / 2 + 4, "middle",
                         share > 0.5 ? "class=\"count\" fill=\"#ffffff\"" : "class=\"count\"",
                         label);
        }
    }
}

static void class_labels(ck_svg *s, const grid *g)
{
    char buf[16], attrs[96];
    double bottom = g->top + g->k * g->cell;
    for (int i = 0; i < g->k; i++) {
        double mid = g->cell * (i + 0.5);
        const char *name = name_of(g, i, buf, sizeof buf);
        ck_svg_label(s, g->left - 6, g->top + mid + 4, "end", "class=\"row-label\"", name);
        snprintf(attrs, sizeof attrs, "class=\"col-label\" transform=\"rotate(-40 %.1f %.1f)\"",
                 g->left + mid, bottom + 14);
        ck_svg_label(s, g->left + mid, bottom + 14, "end", attrs, name);
    }
}

/* Room for the longest class name, in pixels. */
static double label_room(const ck_confusion *c, const char *const *names)
{
    size_t longest = 3;
    for (int i = 0; names && i < c->n_classes; i++) {
        size_t n = names[i] ? strlen(names[i]) : 0;
        longest = n > longest ? n : longest;
    }
    return 16.0 + CHAR_W * (double)(longest < LABEL_CHARS ? longest : LABEL_CHARS);
}

ck_status ck_confusion_plot_svg(const ck_confusion *c, const char *const *names, const char *path)
{
    if (!c || !c->counts || !path || c->n_classes < 1)
        return ck_error(CK_ERR_ARGUMENT, "ck_confusion_plot_svg: no matrix or no path");
    if (c->n_classes > MAX_PLOTTED_CLASSES)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "ck_confusion_plot_svg: %d classes are more than the "
                        "%d a picture can show",
                        c->n_classes, MAX_PLOTTED_CLASSES);
    double room = label_room(c, names);
    grid g = {.k = c->n_classes, .names = names, .left = room + 24, .top = TITLE_H};
    g.cell = fmax(24.0, fmin(64.0, 640.0 / g.k));
    double width = g.left + g.k * g.cell + 20, height = g.top + g.k * g.cell + room * 0.7 + 40;
    ck_svg s;
    CK_TRY(ck_svg_begin(&s, width, height));
    ck_svg_label(&s, width / 2, 24, "middle",
                 "class=\"title\" font-size=\"14\" font-weight=\"bold\"", "Confusion matrix");
    cells(&s, &g, c->counts);
    class_labels(&s, &g);
    char attrs[96];
    snprintf(attrs, sizeof attrs, "class=\"axis-label\" transform=\"rotate(-90 14 %.1f)\"",
             g.top + g.k * g.cell / 2);
    ck_svg_label(&s, 14, g.top + g.k * g.cell / 2, "middle", attrs, "true class");
    ck_svg_label(&s, g.left + g.k * g.cell / 2, height - 10, "middle", "class=\"axis-label\"",
                 "predicted class");
    return ck_svg_finish(&s, path);
}
