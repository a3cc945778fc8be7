/* Reading the SVG pictures back in tests: a training history to draw,
 * and libxml2 queries over the written files. */
#ifndef CK_SVG_CHECK_H
#define CK_SVG_CHECK_H

#include "ckeras.h"

#include <libxml/tree.h>
#include <libxml/xpath.h>

/* Six epochs of a small classifier fitted with a validation split:
 * keys loss, accuracy, val_loss, val_accuracy. */
ck_history *ck_svg_history(void);
/* The confusion matrix [[5, 1, 0], [2, 3, 1], [0, 0, 4]]. */
ck_confusion ck_svg_confusion(void);

/* Parses path as XML; fails the test unless it is well-formed SVG. */
xmlDocPtr ck_svg_parse(const char *path);
/* The nodes matching an XPath expression, in document order; the SVG
 * namespace is prefix "s" ("//s:circle"). Free with xmlXPathFreeObject. */
xmlXPathObjectPtr ck_svg_find(xmlDocPtr doc, const char *xpath);
/* A numeric attribute (asserts it is there). */
double ck_svg_number(xmlNodePtr node, const char *attr);

#endif
