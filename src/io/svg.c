/* Plain SVG text for the pictures: a standalone document written into
 * memory, then saved atomically. Text from users (class names, metric
 * names) is escaped so that any bytes give well-formed XML. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

ck_status ck_svg_begin(ck_svg *s, double width, double height)
{
    *s = (ck_svg){0};
    s->f = open_memstream(&s->buf, &s->len);
    if (!s->f)
        return CK_ERR_MEMORY;
    fprintf(s->f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n"
            "<rect class=\"background\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
            "fill=\"#ffffff\"/>\n",
            width, height, width, height, width, height);
    return CK_OK;
}

/* XML 1.0 allows tab, newline and carriage return among the controls. */
static bool xml_char(const unsigned char *p, size_t k)
{
    return k > 1 || *p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r';
}

void ck_svg_text(ck_svg *s, const char *text, size_t max_bytes)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text), used = 0;
    for (size_t i = 0; i < n;) {
        size_t k = ck_utf8_sequence(p + i, n - i);
        if (used >= max_bytes) {
            fputs("\xE2\x80\xA6", s->f); /* ... */
            return;
        }
        if (k == 0 || !xml_char(p + i, k))
            fputs("\xEF\xBF\xBD", s->f); /* U+FFFD */
        else if (p[i] == '&')
            fputs("&amp;", s->f);
        else if (p[i] == '<')
            fputs("&lt;", s->f);
        else if (p[i] == '>')
            fputs("&gt;", s->f);
        else if (p[i] == '"')
            fputs("&quot;", s->f);
        else
            fwrite(p + i, 1, k, s->f);
        i += k ? k : 1;
        used += k ? k : 1;
    }
}

void ck_svg_label(ck_svg *s, double x, double y, const char *anchor, const char *attrs,
                  const char *text)
{
    fprintf(s->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor,
            attrs ? " " : "", attrs ? attrs : "");
    ck_svg_text(s, text, 64);
    fputs("</text>\n", s->f);
}

ck_status ck_svg_finish(ck_svg *s, const char *path)
{
    fputs("</svg>\n", s->f);
    bool ok = !ferror(s->f);
    ok = fclose(s->f) == 0 && ok;
    ck_status st = ok ? ck_io_atomic_bytes(path, s->buf, s->len) : CK_ERR_MEMORY;
    free(s->buf);
    *s = (ck_svg){0};
    return st;
}
