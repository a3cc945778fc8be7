/* The SVG pictures (src/io/svg.c, plot_history.c, plot_confusion.c) read
 * back as XML: well-formed whatever the names hold, one chart per history
 * quantity with a point per epoch placed by its value, one cell per
 * matrix entry shaded by its share of the row. tests/test_plot_render.c
 * looks at them in a browser. */
#include "ck_test.h"

#include "ck_svg_check.h"

#include <string.h>

static int count(xmlDocPtr doc, const char *xpath)
{
    xmlXPathObjectPtr r = ck_svg_find(doc, xpath);
    int n = r->nodesetval ? r->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(r);
    return n;
}

/* The points of one series, in epoch order, sit lower for lower values. */
static void check_points(xmlDocPtr doc, const ck_history *h, const char *key, const char *series)
{
    char xpath[160];
    snprintf(xpath, sizeof xpath, "//s:g[@data-key='%s']/s:circle[@class='point %s']",
             key + (series[0] == 'v' ? 4 : 0), series);
    xmlXPathObjectPtr r = ck_svg_find(doc, xpath);
    int epochs = ck_history_epochs(h);
    ck_assert_int_eq(r->nodesetval ? r->nodesetval->nodeNr : 0, epochs);
    for (int a = 0; a < epochs; a++)
        for (int b = 0; b < epochs; b++) {
            double va, vb;
            ck_assert_ok(ck_history_get(h, key, a, &va));
            ck_assert_ok(ck_history_get(h, key, b, &vb));
            xmlNodePtr na = r->nodesetval->nodeTab[a], nb = r->nodesetval->nodeTab[b];
            if (a < b)
                ck_assert_double_lt(ck_svg_number(na, "cx"), ck_svg_number(nb, "cx"));
            if (va > vb + 1e-9)
                ck_assert_msg(ck_svg_number(na, "cy") < ck_svg_number(nb, "cy"),
                              "%s: epoch %d (%g) is not drawn above epoch %d (%g)", key, a, va, b,
                              vb);
        }
    xmlXPathFreeObject(r);
}

START_TEST(test_history_chart_structure)
{
    ck_history *h = ck_svg_history();
    const char *path = ck_test_path("curves.svg");
    ck_assert_ok(ck_history_plot_svg(h, path));
    xmlDocPtr doc = ck_svg_parse(path);
    ck_assert_int_eq(count(doc, "//s:g[@class='panel']"), 2);
    /* In the history's order, which is Keras 3's (sorted) for a model built in C. */
    ck_assert_int_eq(count(doc, "//s:g[@class='panel'][1][@data-key='accuracy']"), 1);
    ck_assert_int_eq(count(doc, "//s:g[@class='panel'][2][@data-key='loss']"), 1);
    ck_assert_int_eq(count(doc, "//s:polyline[@class='curve train']"), 2);
    ck_assert_int_eq(count(doc, "//s:polyline[@class='curve val'][@stroke-dasharray]"), 2);
    ck_assert_int_eq(count(doc, "//s:text[@class='title'][.='loss']"), 1);
    ck_assert_int_eq(count(doc, "//s:text[@class='legend-label'][.='validation']"), 2);
    ck_assert_int_eq(count(doc, "//s:text[@class='tick'][.='6']"), 2);
    check_points(doc, h, "loss", "train");
    check_points(doc, h, "val_loss", "val");
    check_points(doc, h, "accuracy", "train");
    check_points(doc, h, "val_accuracy", "val");
    xmlFreeDoc(doc);
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
    ck_history_free(h);
}
END_TEST

START_TEST(test_confusion_chart_structure)
{
    ck_confusion c = ck_svg_confusion();
    const char *names[] = {"hello", "thanks & <co>", "ilove\x01you\xff"};
    const char *path = ck_test_path("cm.svg");
    ck_assert_ok(ck_confusion_plot_svg(&c, names, path));
    xmlDocPtr doc = ck_svg_parse(path);
    ck_assert_int_eq(count(doc, "//s:rect[@class='cell']"), 9);
    xmlXPathObjectPtr cells = ck_svg_find(doc, "//s:rect[@class='cell']");
    for (int i = 0; i < 9; i++) {
        xmlNodePtr cell = cells->nodesetval->nodeTab[i];
        ck_assert_int_eq((int)ck_svg_number(cell, "data-row"), i / 3);
        ck_assert_int_eq((int)ck_svg_number(cell, "data-col"), i % 3);
        ck_assert_int_eq((int64_t)ck_svg_number(cell, "data-count"), c.counts[i]);
    }
    xmlXPathFreeObject(cells);
    /* Row 2 is all class 2 (share 1: the darkest); empty cells stay white. */
    ck_assert_int_eq(count(doc, "//s:rect[@data-row='2'][@data-col='2'][@fill='#08306b']"), 1);
    ck_assert_int_eq(count(doc, "//s:rect[@class='cell'][@fill='#ffffff']"), 3);
    /* Row 1: 2 of 6 predicted as class 0, a third of the way from white
     * (255, 255, 255) to (8, 48, 107): (173, 186, 206). */
    ck_assert_int_eq(count(doc, "//s:rect[@data-row='1'][@data-col='0'][@fill='#adbace']"), 1);
    ck_assert_int_eq(count(doc, "//s:text[@class='count'][.='5']"), 1);
    /* Names come back as given; bytes that are not text become U+FFFD. */
    ck_assert_int_eq(count(doc, "//s:text[@class='row-label'][.='thanks & <co>']"), 1);
    ck_assert_int_eq(
        count(doc, "//s:text[@class='col-label'][.='ilove\xEF\xBF\xBDyou\xEF\xBF\xBD']"), 1);
    xmlFreeDoc(doc);

    /* Without names the classes are numbered. */
    ck_assert_ok(ck_confusion_plot_svg(&c, NULL, path));
    doc = ck_svg_parse(path);
    ck_assert_int_eq(count(doc, "//s:text[@class='row-label'][.='2']"), 1);
    xmlFreeDoc(doc);
    ck_confusion_free(&c);
}
END_TEST

START_TEST(test_plot_errors)
{
    ck_confusion c = ck_svg_confusion();
    ck_assert_fails(ck_confusion_plot_svg(&c, NULL, ck_test_path("no/such/dir.svg")), CK_ERR_IO);
    ck_assert_fails(ck_confusion_plot_svg(NULL, NULL, ck_test_path("x.svg")), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_history_plot_svg(NULL, ck_test_path("x.svg")), CK_ERR_ARGUMENT);
    c.n_classes = 1000;
    ck_assert_fails(ck_confusion_plot_svg(&c, NULL, ck_test_path("x.svg")), CK_ERR_UNSUPPORTED);
    c.n_classes = 3;
    ck_confusion_free(&c);
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_history_chart_structure);
    tcase_add_test(tc, test_confusion_chart_structure);
    tcase_add_test(tc, test_plot_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
