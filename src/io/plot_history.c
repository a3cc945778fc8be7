/* Training curves as SVG: one chart per quantity of a history (loss, then
 * each metric), value against epoch, training solid and validation dashed,
 * read through the history's public accessors. */
#include "ck_io.h"

#include <math.h>
#include <string.h>

#define PANEL_W 480.0
#define PANEL_H 300.0
#define LEFT 64.0
#define RIGHT 20.0
#define TOP 52.0
#define BOTTOM 46.0
#define COLUMNS 2
#define TICKS 5

static const char *const series_class[2] = {"train", "val"};
static const char *const series_color[2] = {"#1f77b4", "#ff7f0e"};
static const char *const series_dash[2] = {"", " stroke-dasharray=\"6 4\""};
static const char *const series_label[2] = {"training", "validation"};

/* One chart: where it is, its value range, and the keys of its series
 * (NULL when the history lacks the validation one). */
typedef struct chart {
    double x0, y0; /* top-left corner of the panel */
    double lo, hi; /* value range */
    int epochs;
    const char *key[2];
} chart;

static double px(const chart *c, int epoch)
{
    double span = c->epochs > 1 ? c->epochs - 1 : 1;
    double inset = 10.0, width = PANEL_W - LEFT - RIGHT - 2 * inset;
    return c->x0 + LEFT + inset + width * (c->epochs > 1 ? epoch / span : 0.5);
}

static double py(const chart *c, double v)
{
    return c->y0 + TOP + (PANEL_H - TOP - BOTTOM) * (c->hi - v) / (c->hi - c->lo);
}

static double value(const ck_history *h, const char *key, int epoch)
{
    double v = NAN;
    if (key && ck_history_get(h, key, epoch, &v) != CK_OK)
        v = NAN;
    return v;
}

/* A round step near range / TICKS: 1, 2 or 5 times a power of ten. */
static double nice_step(double range)
{
    double raw = range / TICKS, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

/* The range of the finite values of both series, widened to whole steps. */
static void value_range(const ck_history *h, chart *c)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < 2; s++)
        for (int e = 0; e < c->epochs; e++) {
            double v = value(h, c->key[s], e);
            if (isfinite(v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) {
        lo -= fmax(0.5, fabs(lo) * 0.1);
        hi += fmax(0.5, fabs(hi) * 0.1);
    }
    double step = nice_step(hi - lo);
    c->lo = floor(lo / step) * step;
    c->hi = ceil(hi / step) * step;
}

static void axes(ck_svg *s, const chart *c, const char *title)
{
    FILE *f = s->f;
    double left = c->x0 + LEFT, right = c->x0 + PANEL_W - RIGHT;
    double top = c->y0 + TOP, bottom = c->y0 + PANEL_H - BOTTOM;
    fprintf(f,
            "<rect class=\"plot-area\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"none\" stroke=\"#444444\"/>\n",
            left, top, right - left, bottom - top);
    double step = nice_step(c->hi - c->lo);
    for (double v = c->lo; v <= c->hi + step / 2; v += step) {
        char label[32];
        snprintf(label, sizeof label, "%.4g", fabs(v) < step / 1e6 ? 0.0 : v);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#dddddd\"/>\n",
                left, py(c, v), right, py(c, v));
        ck_svg_label(s, left - 6, py(c, v) + 4, "end", "class=\"tick\"", label);
    }
    int every = c->epochs > 10 ? (c->epochs + 9) / 10 : 1;
    for (int e = 0; e < c->epochs; e += every) {
        char label[16];
        snprintf(label, sizeof label, "%d", e + 1);
        ck_svg_label(s, px(c, e), bottom + 16, "middle", "class=\"tick\"", label);
    }
    ck_svg_label(s, (left + right) / 2, bottom + 36, "middle", "class=\"axis-label\"", "epoch");
    ck_svg_label(s, (left + right) / 2, c->y0 + 20, "middle",
                 "class=\"title\" font-size=\"14\" font-weight=\"bold\"", title);
}

/* The series as polylines broken at non-finite values, plus a dot per epoch. */
static void series(ck_svg *s, const ck_history *h, const chart *c, int k)
{
    FILE *f = s->f;
    bool open = false;
    for (int e = 0; e <= c->epochs; e++) {
        double v = e < c->epochs ? value(h, c->key[k], e) : NAN;
        if (isfinite(v) && !open)
            fprintf(f,
                    "<polyline class=\"curve %s\" fill=\"none\" stroke=\"%s\" "
                    "stroke-width=\"2\"%s points=\"",
                    series_class[k], series_color[k], series_dash[k]);
        if (isfinite(v))
            fprintf(f, "%s%.2f,%.2f", open ? " " : "", px(c, e), py(c, v));
        else if (open)
            fputs("\"/>\n", f);
        open = isfinite(v);
    }
    for (int e = 0; e < c->epochs; e++) {
        double v = value(h, c->key[k], e);
        if (isfinite(v))
            fprintf(f, "<circle class=\"point %s\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    series_class[k], px(c, e), py(c, v), series_color[k]);
    }
}

/* A row above the plot area, ending at its right edge. */
static void legend(ck_svg *s, const chart *c)
{
    double x = c->x0 + PANEL_W - RIGHT - (c->key[1] ? 210 : 95), y = c->y0 + TOP - 10;
    for (int k = 0; k < 2; k++) {
        if (!c->key[k])
            continue;
        fprintf(s->f,
                "<line class=\"legend %s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                series_class[k], x, y - 4, x + 24, y - 4, series_color[k], series_dash[k]);
        ck_svg_label(s, x + 30, y, "start", "class=\"legend-label\"", series_label[k]);
        x += 105;
    }
}

static bool is_validation(const char *key)
{
    return strncmp(key, "val_", 4) == 0;
}

/* The validation key matching `key`, or NULL. */
static const char *validation_of(const ck_history *h, const char *key)
{
    for (int i = 0; i < ck_history_key_count(h); i++) {
        const char *k = ck_history_key(h, i);
        if (is_validation(k) && strcmp(k + 4, key) == 0)
            return k;
    }
    return NULL;
}

ck_status ck_history_plot_svg(const ck_history *h, const char *path)
{
    if (!h || !path)
        return ck_error(CK_ERR_ARGUMENT, "ck_history_plot_svg: NULL argument");
    int epochs = ck_history_epochs(h), n = 0;
    for (int i = 0; i < ck_history_key_count(h); i++)
        n += !is_validation(ck_history_key(h, i));
    if (epochs < 1 || n == 0)
        return ck_error(CK_ERR_ARGUMENT, "ck_history_plot_svg: the history has no epochs");
    int cols = n < COLUMNS ? n : COLUMNS, rows = (n + cols - 1) / cols;
    ck_svg s;
    CK_TRY(ck_svg_begin(&s, cols * PANEL_W, rows * PANEL_H));
    for (int i = 0, panel = 0; i < ck_history_key_count(h); i++) {
        const char *key = ck_history_key(h, i);
        if (is_validation(key))
            continue;
        chart c = {.x0 = (panel % cols) * PANEL_W,
                   .y0 = (panel / cols) * PANEL_H,
                   .epochs = epochs,
                   .key = {key, validation_of(h, key)}};
        panel++;
        value_range(h, &c);
        fputs("<g class=\"panel\" data-key=\"", s.f);
        ck_svg_text(&s, key, 64);
        fputs("\">\n", s.f);
        axes(&s, &c, key);
        for (int k = 0; k < 2; k++)
            if (c.key[k])
                series(&s, h, &c, k);
        legend(&s, &c);
        fputs("</g>\n", s.f);
    }
    return ck_svg_finish(&s, path);
}
