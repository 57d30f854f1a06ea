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
/* Each thread's JIT stack grows to this; the interpreter, which takes
 * over when JIT code fails, may use this much heap (KiB). */
#define SLUICE_REGEX_JIT_STACK_MAX   (4 * 1024 * 1024)
#define SLUICE_REGEX_HEAP_LIMIT_KIB  (128 * 1024)
/* Steps (PCRE2's match limit) one sluice_regex_match_full() may take:
 * legitimate patterns take a few per subject, even on 64 KiB strings
 * (^([a-z]|-)*$: 1 under JIT; 2 per character when interpreted, which
 * the interpreter's limit allows for); ^(a+)+$ against 40 `a` and `!`
 * takes 100,000 in 0.2 ms. sluice_regex_find() keeps PCRE2's default:
 * one call searches a whole text. */
#define SLUICE_REGEX_MATCH_LIMIT     100000
#define SLUICE_REGEX_FIND_LIMIT      10000000

gboolean     sluice_regex_match    (SluiceRegex       *regex,
                                    const char        *subject,
                                    gsize              length);
/* What sluice_regex_find() and sluice_regex_match_full() found. */
typedef enum {
  SLUICE_REGEX_NO_MATCH    = 0,
  SLUICE_REGEX_FOUND       = 1,
  SLUICE_REGEX_GAVE_UP     = -1,   /* PCRE2 failed: match, JIT stack or heap limit, bad UTF-8 */
  SLUICE_REGEX_OVER_BUDGET = -2,   /* the caller's @steps ran out */
} SluiceRegexResult;

/* Whether @regex matches anywhere in @subject, telling "no match" from
 * "could not tell": JIT code that fails (its stack) is retried by the
 * interpreter; what still fails is %SLUICE_REGEX_GAVE_UP with PCRE2's
 * message in @error. @steps (nullable) is what the caller may still
 * spend across many matches: each match is charged what it may have
 * used, and when it runs out the result is %SLUICE_REGEX_OVER_BUDGET. */
SluiceRegexResult sluice_regex_match_full (SluiceRegex  *regex,
                                           const char   *subject,
                                           gsize         length,
                                           guint64      *steps,
                                           GError      **error);

SluiceRegexResult sluice_regex_find (SluiceRegex  *regex,
                                     const char   *subject,
                                     gsize         length,
                                     gsize         offset,
                                     gsize        *match_start,
                                     gsize        *match_end);
void         sluice_regex_free     (SluiceRegex       *regex);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceRegex, sluice_regex_free)

G_END_DECLS
