/* The text of a PDF page with words apart where pdftotext has them apart.
 *
 * poppler-glib's page text (poppler_page_get_text) comes from poppler's
 * selection code, which differs from pdftotext's dump of the same layout
 * in two ways that lose words:
 *
 *  - blocks that poppler takes for the cells of one table row (a
 *    description list's label and its body, a table of contents entry
 *    and its page number, the cells of a table) are joined with nothing
 *    between them: "\oval" and "Use" become "\ovalUse";
 *  - a word hyphenated at the end of a line stays in two pieces ("docu-"
 *    and "ment"), where pdftotext joins it ("document").
 *
 * pagetext_fix repairs both from the text and the box of each of its
 * characters (poppler_page_get_text_layout): two characters with nothing
 * between them that are not next to each other on the page get a space
 * (same line) or a newline (otherwise) between them, and a line that ends
 * in '-' is joined to the next one without the hyphen, as pdftotext does
 * for every line of a flow but its last (flows cannot be seen from here:
 * every line of the page but its last). Pure logic, no poppler. */
#ifndef MEMSAFE_PAGETEXT_H
#define MEMSAFE_PAGETEXT_H

#include <stddef.h>

/* A character's box in page coordinates (points, y down), laid out as
 * poppler-glib's PopplerRectangle. */
struct pagetext_box {
	double x1, y1, x2, y2;
};

/* Build the page text from poppler's text (len bytes of UTF-8) and one
 * box per character of it (the U+202A-U+202C direction marks poppler adds
 * around right-to-left runs have none). With box NULL, only joins
 * hyphenated lines. Returns 0 with a malloc'd, NUL-terminated text in
 * *ret (*ret_len bytes, never more than len + nbox), -EINVAL when the
 * boxes do not match the text's characters, -ENOMEM. */
int pagetext_fix(const char *text, size_t len, const struct pagetext_box *box, size_t nbox,
		 char **ret, size_t *ret_len);

#endif
