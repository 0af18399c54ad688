/* Documents -> plain text for retrieval: text and markdown files as they are, HTML with its tags, scripts and
 * styles removed and its entities decoded, PDF through poppler's `pdftotext` when it is installed. Refuses,
 * with the reason, what is not text (binary data, invalid UTF-8) or cannot be read. Sits in rag/ below the
 * rag task (tasks/rag.c), which walks the directories. */
#ifndef PL_RAG_EXTRACT_H
#define PL_RAG_EXTRACT_H

#include "plinth.h"
#include <stddef.h>

typedef enum { PL_DOC_TEXT, PL_DOC_HTML, PL_DOC_PDF } pl_doc_kind;

/* The kind a file name says (.html / .htm, .pdf, anything else: text). */
pl_doc_kind pl_doc_kind_of(const char *path);
/* The text of the file (malloc'd, NUL-terminated, *len bytes); NULL + a message that names the reason:
 * unreadable, binary, not UTF-8, a PDF without pdftotext. */
char *pl_doc_extract(const char *path, size_t *len);
/* HTML -> text: tags dropped (block tags end a line), <script> / <style> contents dropped, entities decoded. */
char *pl_html_to_text(const char *html, size_t n, size_t *len);

#endif
