/* Turning a document file into plain text (extract.h). HTML is stripped by a small state machine (no DOM: a
 * retrieval index needs the words and the paragraph breaks, not the tree); PDF goes through pdftotext. */
#include "rag/extract.h"

#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcasecmp(s + n - m, suf);
}

pl_doc_kind pl_doc_kind_of(const char *path) {
    if (ends_with(path, ".html") || ends_with(path, ".htm")) return PL_DOC_HTML;
    if (ends_with(path, ".pdf")) return PL_DOC_PDF;
    return PL_DOC_TEXT;
}

/* ---- HTML ------------------------------------------------------------------------------------------------ */
typedef struct { char *p; size_t n, cap; } sbuf;
static bool put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

static const struct { const char *name, *text; } k_entities[] = {
    {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "}, {"mdash", "\xe2\x80\x94"},
    {"ndash", "\xe2\x80\x93"}, {"hellip", "\xe2\x80\xa6"}, {"copy", "\xc2\xa9"},
};

static size_t utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63)); return 3; }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63)); o[2] = (char)(0x80 | (cp >> 6 & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* the entity at s ("&amp;", "&#233;", "&#xE9;"): its bytes into out, returns the length consumed (0: not one) */
static size_t entity(const char *s, size_t n, char out[8], size_t *olen) {
    const char *semi = memchr(s, ';', n < 12 ? n : 12);
    if (!semi) return 0;
    size_t len = (size_t)(semi - s) + 1;
    if (s[1] == '#') {
        long cp = s[2] == 'x' || s[2] == 'X' ? strtol(s + 3, NULL, 16) : strtol(s + 2, NULL, 10);
        if (cp <= 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return 0;
        *olen = utf8_put((uint32_t)cp, out);
        return len;
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(k_entities); i++)
        if (strlen(k_entities[i].name) == len - 2 && !strncmp(s + 1, k_entities[i].name, len - 2)) {
            *olen = strlen(k_entities[i].text);
            memcpy(out, k_entities[i].text, *olen);
            return len;
        }
    return 0;
}

static bool tag_is(const char *t, size_t n, const char *name) {
    size_t m = strlen(name);
    return n >= m && !strncasecmp(t, name, m) && (n == m || t[m] == ' ' || t[m] == '>' || t[m] == '/' || t[m] == '\t' || t[m] == '\n');
}

static bool block_tag(const char *t, size_t n) {
    static const char *const blocks[] = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
                                         "table", "ul", "ol", "section", "article", "blockquote", "hr", "title"};
    if (n && t[0] == '/') { t++; n--; }
    for (size_t i = 0; i < PL_ARRAY_LEN(blocks); i++)
        if (tag_is(t, n, blocks[i])) return true;
    return false;
}

char *pl_html_to_text(const char *h, size_t n, size_t *len) {
    sbuf b = {0};
    bool ok = put(&b, "", 0);
    for (size_t i = 0; ok && i < n;) {
        if (h[i] == '<') {
            const char *end = memchr(h + i, '>', n - i);
            size_t tn = end ? (size_t)(end - h) - i - 1 : n - i - 1;
            const char *t = h + i + 1;
            const char *skip_to = tag_is(t, tn, "script") ? "</script" : tag_is(t, tn, "style") ? "</style" : NULL;
            if (tn >= 3 && !strncmp(t, "!--", 3)) skip_to = "-->";
            if (block_tag(t, tn)) ok = put(&b, "\n", 1);
            i = end ? (size_t)(end - h) + 1 : n;
            if (skip_to) {
                const char *s = strcasestr(h + i, skip_to);
                i = s && (size_t)(s - h) < n ? (size_t)(s - h) : n;
                if (i < n) { const char *e2 = memchr(h + i, '>', n - i); i = e2 ? (size_t)(e2 - h) + 1 : n; }
            }
        } else if (h[i] == '&') {
            char out[8];
            size_t olen = 0, used = entity(h + i, n - i, out, &olen);
            ok = used ? put(&b, out, olen) : put(&b, "&", 1);
            i += used ? used : 1;
        } else {
            ok = put(&b, h + i, 1);
            i++;
        }
    }
    if (!ok) { free(b.p); return pl_error_null(PL_ERR_NOMEM, "out of memory stripping HTML"); }
    *len = b.n;
    return b.p;
}

/* ---- PDF ------------------------------------------------------------------------------------------------- */
static char *pdf_text(const char *path, size_t *len) {
    if (access("/usr/bin/pdftotext", X_OK) && access("/usr/local/bin/pdftotext", X_OK))
        return pl_error_null(PL_ERR_UNSUPPORTED, "%s: PDF needs pdftotext, which is not installed (Debian: apt-get install "
                             "poppler-utils)", path);
    char tmpl[] = "/tmp/plinth-pdf-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return pl_error_null(PL_ERR_IO, "cannot make a temporary file: %s", strerror(errno));
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("pdftotext", "pdftotext", "-q", "-enc", "UTF-8", path, tmpl, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        unlink(tmpl);
        return pl_error_null(PL_ERR_FORMAT, "%s: pdftotext could not read it", path);
    }
    char *text = pl_read_file(tmpl, len);
    unlink(tmpl);
    return text;
}

/* ---- any file -------------------------------------------------------------------------------------------- */
char *pl_doc_extract(const char *path, size_t *len) {
    struct stat sb;
    if (stat(path, &sb)) return pl_error_null(PL_ERR_IO, "%s: unreadable: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return pl_error_null(PL_ERR_IO, "%s: not a regular file", path);
    pl_doc_kind kind = pl_doc_kind_of(path);
    if (kind == PL_DOC_PDF) return pdf_text(path, len);
    FILE *f = fopen(path, "rb");
    if (!f) return pl_error_null(PL_ERR_IO, "%s: unreadable: %s", path, strerror(errno));
    fclose(f);
    size_t n;
    char *raw = pl_read_file(path, &n);
    if (!raw) return NULL;
    if (memchr(raw, 0, n)) { free(raw); return pl_error_null(PL_ERR_FORMAT, "%s: binary (it holds NUL bytes), skipped", path); }
    if (!pl_utf8_valid(raw, n)) { free(raw); return pl_error_null(PL_ERR_FORMAT, "%s: not UTF-8 text, skipped", path); }
    if (kind == PL_DOC_TEXT) { *len = n; return raw; }
    char *text = pl_html_to_text(raw, n, len);
    free(raw);
    return text;
}
