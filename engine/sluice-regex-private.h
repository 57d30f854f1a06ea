/* sluice-regex-private.h — a compiled regular expression that matches
 * without allocating
 *
 * GRegex allocates a GMatchInfo (and PCRE2 match data) on every match;
 * the schema validator matches `pattern` on every string it checks, so
 * it goes to PCRE2 (GLib's own engine) directly: the pattern is
 * JIT-compiled once and each thread keeps one match block.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SluiceRegex SluiceRegex;

/* SLUICE_REGEX_CASELESS: letters match either case (Unicode case folding). */
typedef enum {
  SLUICE_REGEX_DEFAULT  = 0,
  SLUICE_REGEX_CASELESS = 1 << 0,
} SluiceRegexFlags;

SluiceRegex *sluice_regex_new      (const char        *pattern,
                                    GError           **error);
SluiceRegex *sluice_regex_new_full (const char        *pattern,
                                    SluiceRegexFlags   flags,
                                    GError           **error);
gboolean     sluice_regex_match    (SluiceRegex       *regex,
                                    const char        *subject,
                                    gsize              length);
/* What sluice_regex_find() found. */
typedef enum {
  SLUICE_REGEX_NO_MATCH = 0,
  SLUICE_REGEX_FOUND    = 1,
  SLUICE_REGEX_GAVE_UP  = -1,   /* PCRE2's match or JIT stack limit was reached */
} SluiceRegexResult;

SluiceRegexResult sluice_regex_find (SluiceRegex  *regex,
                                     const char   *subject,
                                     gsize         length,
                                     gsize         offset,
                                     gsize        *match_start,
                                     gsize        *match_end);
void         sluice_regex_free     (SluiceRegex       *regex);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceRegex, sluice_regex_free)

G_END_DECLS
