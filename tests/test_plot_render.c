/* The SVG pictures in a real browser: headless Chromium takes a
 * screenshot of each, and the pixels must show what the SVG says: every
 * point of every curve in its series' colour, every matrix cell in its
 * shade, white around them. Reports SKIP (exit 77) when Chromium or
 * libpng is not installed (scripts/setup.sh --browser installs both). */
#include "ck_test.h"

#include "ck_svg_check.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef CK_HAVE_PNG
#include <png.h>
#endif

#define BROWSER_SECONDS 90
#define TOLERANCE 40

static char browser[512];

/* The first Chromium on PATH, in `browser`. */
static bool find_browser(void)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *save = NULL;
        char copy[4096];
        memcpy(copy, dirs, sizeof copy);
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            snprintf(browser, sizeof browser, "%s/%s", d, names[i]);
            if (access(browser, X_OK) == 0)
                return true;
        }
    }
    return false;
}

/* Runs the browser on svg and waits (bounded) for png. */
static void screenshot(const char *svg, int width, int height, const char *png)
{
    char profile[64], size[64], shot[600], url[600];
    snprintf(profile, sizeof profile, "--user-data-dir=%s", ck_test_path("profile"));
    snprintf(size, sizeof size, "--window-size=%d,%d", width, height);
    snprintf(shot, sizeof shot, "--screenshot=%s", png);
    snprintf(url, sizeof url, "file://%s", svg);
    char *const argv[] = {browser,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          "--hide-scrollbars",
                          "--force-device-scale-factor=1",
                          profile,
                          size,
                          shot,
                          url,
                          NULL};
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execv(browser, argv);
        _exit(127);
    }
    int status = 0;
    time_t start = time(NULL);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (time(NULL) - start > BROWSER_SECONDS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("%s took more than %d s", browser, BROWSER_SECONDS);
        }
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed (status %d)", browser,
                  status);
    ck_assert_msg(access(png, R_OK) == 0, "%s wrote no screenshot", browser);
}

#ifdef CK_HAVE_PNG
typedef struct picture {
    int width, height;
    unsigned char *rgb;
} picture;

static picture load_png(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&img, path), "%s: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    picture p = {(int)img.width, (int)img.height, malloc(PNG_IMAGE_SIZE(img))};
    ck_assert_ptr_nonnull(p.rgb);
    ck_assert_msg(png_image_finish_read(&img, NULL, p.rgb, 0, NULL), "%s: %s", path, img.message);
    return p;
}

/* The pixel at (x, y) is within TOLERANCE of colour "#rrggbb". */
static void assert_colour(const picture *p, double x, double y, const char *hex, const char *what)
{
    int px = (int)(x + 0.5), py = (int)(y + 0.5);
    ck_assert_msg(px >= 0 && py >= 0 && px < p->width && py < p->height, "%s off the picture",
                  what);
    unsigned want = (unsigned)strtoul(hex + 1, NULL, 16);
    const unsigned char *got = p->rgb + 3 * ((size_t)py * (size_t)p->width + (size_t)px);
    for (int c = 0; c < 3; c++) {
        int w = (int)(want >> (16 - 8 * c) & 0xff);
        ck_assert_msg(abs(got[c] - w) <= TOLERANCE, "%s at (%d, %d) is #%02x%02x%02x, expected %s",
                      what, px, py, got[0], got[1], got[2], hex);
    }
}

static picture render(const char *svg, const char *png)
{
    xmlDocPtr doc = ck_svg_parse(svg);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    int w = (int)ck_svg_number(root, "width"), h = (int)ck_svg_number(root, "height");
    xmlFreeDoc(doc);
    screenshot(svg, w, h, png);
    picture p = load_png(png);
    ck_assert_int_eq(p.width, w);
    ck_assert_int_eq(p.height, h);
    /* The corners are background. */
    assert_colour(&p, 1, 1, "#ffffff", "top-left corner");
    assert_colour(&p, w - 2, h - 2, "#ffffff", "bottom-right corner");
    return p;
}

/* A point is checked where no other point covers it. */
static bool covered(xmlNodeSetPtr points, int i)
{
    double x = ck_svg_number(points->nodeTab[i], "cx"), y = ck_svg_number(points->nodeTab[i], "cy");
    for (int j = i + 1; j < points->nodeNr; j++)
        if (fabs(ck_svg_number(points->nodeTab[j], "cx") - x) < 7 &&
            fabs(ck_svg_number(points->nodeTab[j], "cy") - y) < 7)
            return true;
    return false;
}

START_TEST(test_curves_render)
{
    ck_history *h = ck_svg_history();
    char svg[512], png[512];
    snprintf(svg, sizeof svg, "%s", ck_test_path("curves.svg"));
    snprintf(png, sizeof png, "%s", ck_test_path("curves.png"));
    ck_assert_ok(ck_history_plot_svg(h, svg));
    picture p = render(svg, png);
    xmlDocPtr doc = ck_svg_parse(svg);
    xmlXPathObjectPtr r = ck_svg_find(doc, "//s:circle");
    ck_assert_int_eq(r->nodesetval->nodeNr, 4 * ck_history_epochs(h));
    int checked = 0;
    for (int i = 0; i < r->nodesetval->nodeNr; i++) {
        xmlNodePtr c = r->nodesetval->nodeTab[i];
        xmlChar *fill = xmlGetProp(c, BAD_CAST "fill");
        if (!covered(r->nodesetval, i)) {
            assert_colour(&p, ck_svg_number(c, "cx"), ck_svg_number(c, "cy"), (char *)fill,
                          "curve point");
            checked++;
        }
        xmlFree(fill);
    }
    ck_assert_int_ge(checked, 2 * ck_history_epochs(h));
    xmlXPathFreeObject(r);
    xmlFreeDoc(doc);
    free(p.rgb);
    ck_history_free(h);
}
END_TEST

START_TEST(test_confusion_renders)
{
    ck_confusion c = ck_svg_confusion();
    const char *names[] = {"hello", "thanks", "iloveyou"};
    char svg[512], png[512];
    snprintf(svg, sizeof svg, "%s", ck_test_path("cm.svg"));
    snprintf(png, sizeof png, "%s", ck_test_path("cm.png"));
    ck_assert_ok(ck_confusion_plot_svg(&c, names, svg));
    picture p = render(svg, png);
    xmlDocPtr doc = ck_svg_parse(svg);
    xmlXPathObjectPtr r = ck_svg_find(doc, "//s:rect[@class='cell']");
    ck_assert_int_eq(r->nodesetval->nodeNr, 9);
    for (int i = 0; i < 9; i++) {
        xmlNodePtr cell = r->nodesetval->nodeTab[i];
        xmlChar *fill = xmlGetProp(cell, BAD_CAST "fill");
        /* Inside the cell, clear of its border and its count. */
        assert_colour(&p, ck_svg_number(cell, "x") + 6, ck_svg_number(cell, "y") + 6, (char *)fill,
                      "matrix cell");
        xmlFree(fill);
    }
    xmlXPathFreeObject(r);
    xmlFreeDoc(doc);
    free(p.rgb);
    ck_confusion_free(&c);
}
END_TEST
#endif

static Suite *suite(void)
{
    Suite *s = suite_create("plot_render");
    TCase *tc = tcase_create("plot_render");
    tcase_set_timeout(tc, 4 * BROWSER_SECONDS);
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, NULL);
#ifdef CK_HAVE_PNG
    tcase_add_test(tc, test_curves_render);
    tcase_add_test(tc, test_confusion_renders);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
#ifndef CK_HAVE_PNG
    ck_test_skip("test_plot_render: built without libpng (scripts/setup.sh --browser)");
    return CK_TEST_SKIP;
#endif
    if (!find_browser()) {
        ck_test_skip("test_plot_render: no chromium on PATH (scripts/setup.sh --browser)");
        return CK_TEST_SKIP;
    }
    return ck_test_run(suite());
}
