#include "ck_svg_check.h"

#include "ck_test.h"

#include <libxml/parser.h>
#include <libxml/xpathInternals.h>
#include <string.h>

ck_history *ck_svg_history(void)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.05),
                                  .loss = "categorical_crossentropy", .metrics = {"accuracy"}));
    float x[40], y[60] = {0};
    for (int i = 0; i < 20; i++) {
        x[2 * i] = (float)(i % 3);
        x[2 * i + 1] = (float)((i * 7) % 5) / 5.0f;
        y[3 * i + i % 3] = 1.0f;
    }
    ck_tensor tx = {2, {20, 2}, x}, ty = {2, {20, 3}, y};
    ck_history *h = NULL;
    ck_assert_ok(ck_model_fit(m, &tx, &ty, &h, .epochs = 6, .validation_split = 0.25));
    ck_model_free(m);
    return h;
}

ck_confusion ck_svg_confusion(void)
{
    static const int64_t counts[9] = {5, 1, 0, 2, 3, 1, 0, 0, 4};
    ck_confusion c = {3, malloc(sizeof counts)};
    ck_assert_ptr_nonnull(c.counts);
    memcpy(c.counts, counts, sizeof counts);
    return c;
}

xmlDocPtr ck_svg_parse(const char *path)
{
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    ck_assert_msg(doc != NULL, "%s is not well-formed XML", path);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    ck_assert_str_eq((const char *)root->name, "svg");
    ck_assert_ptr_nonnull(root->ns);
    ck_assert_str_eq((const char *)root->ns->href, "http://www.w3.org/2000/svg");
    return doc;
}

xmlXPathObjectPtr ck_svg_find(xmlDocPtr doc, const char *xpath)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    ck_assert_ptr_nonnull(ctx);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST "http://www.w3.org/2000/svg");
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST xpath, ctx);
    xmlXPathFreeContext(ctx);
    ck_assert_msg(r != NULL && r->type == XPATH_NODESET, "bad XPath %s", xpath);
    return r;
}

double ck_svg_number(xmlNodePtr node, const char *attr)
{
    xmlChar *v = xmlGetProp(node, BAD_CAST attr);
    ck_assert_msg(v != NULL, "<%s> has no %s", node->name, attr);
    double d = strtod((const char *)v, NULL);
    xmlFree(v);
    return d;
}
