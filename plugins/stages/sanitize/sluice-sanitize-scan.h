/* sluice-sanitize-scan.h — the text work of the sanitize stage: cleaning
 * a value (UTF-8, control characters, NFC) and the scanners that find
 * personal data and secrets whose shape a regular expression cannot
 * check (Luhn, mod 97) or would scan in quadratic time.
 *
 * Every scanner is linear in the text: each looks at a bounded window
 * around an anchor (an '@', a digit, a capital letter) and resumes after
 * what it examined.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What sluice_sanitize_clean() did to a value. */
typedef struct
{
  guint invalid_bytes;   /* bytes that were not UTF-8 (replaced or dropped) */
  guint controls;        /* control and invisible characters removed */
} SluiceSanitizeCleaned;

/* A copy of @text (@length bytes, any bytes) as valid UTF-8 in NFC:
 * bytes that are not UTF-8 become U+FFFD, or are dropped when
 * @drop_invalid; C0 and C1 control characters but tab and newline, DEL,
 * bidirectional overrides and isolates, zero-width spaces, the BOM,
 * Unicode tag characters (invisible text) and combining marks beyond 30
 * in a row ("Zalgo" text; Unicode's stream-safe limit) are removed. */
char     *sluice_sanitize_clean       (const char            *text,
                                       gsize                  length,
                                       gboolean               drop_invalid,
                                       gsize                 *out_length,
                                       SluiceSanitizeCleaned *cleaned);

/* The longest prefix of @text no longer than @max bytes that ends on a
 * character boundary. */
gsize     sluice_sanitize_cut         (const char            *text,
                                       gsize                  length,
                                       gsize                  max);

/* A scanner: the first match in @text[@from..@length) into @start and
 * @end. @text is valid UTF-8. */
typedef gboolean (*SluiceSanitizeFind) (const char *text,
                                        gsize       length,
                                        gsize       from,
                                        gsize      *start,
                                        gsize      *end);

gboolean  sluice_sanitize_find_email  (const char *text, gsize length, gsize from,
                                       gsize *start, gsize *end);
gboolean  sluice_sanitize_find_card   (const char *text, gsize length, gsize from,
                                       gsize *start, gsize *end);
gboolean  sluice_sanitize_find_iban   (const char *text, gsize length, gsize from,
                                       gsize *start, gsize *end);
gboolean  sluice_sanitize_find_phone  (const char *text, gsize length, gsize from,
                                       gsize *start, gsize *end);

/* The checks, on digits (and letters for IBAN) without separators. */
gboolean  sluice_sanitize_luhn_valid  (const char *digits, gsize n);
gboolean  sluice_sanitize_iban_valid  (const char *chars, gsize n);

G_END_DECLS
