/* sluice-regex.c — PCRE2 patterns, JIT-compiled, matched without
 * allocating (see sluice-regex-private.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "sluice-regex-private.h"
#include "sluice.h"

#include <pcre2.h>

struct _SluiceRegex {
  pcre2_code *code;
};

/* One match block per thread, enough for any pattern: with room for a
 * single pair, pcre2_match() still says whether the pattern matched. */
static void
match_data_free (gpointer data)
{
  pcre2_match_data_free (data);
}

static GPrivate thread_match_data = G_PRIVATE_INIT (match_data_free);

static pcre2_match_data *
get_match_data (void)
{
  pcre2_match_data *data = g_private_get (&thread_match_data);

  if (data == NULL)
    {
      data = pcre2_match_data_create (1, NULL);
      g_private_set (&thread_match_data, data);
    }
  return data;
}

/* UTF: subjects and patterns are UTF-8 (JSON text). DOLLAR_ENDONLY:
 * ECMA-262's `$` does not match before a final newline. */
SluiceRegex *
sluice_regex_new (const char  *pattern,
                  GError     **error)
{
  return sluice_regex_new_full (pattern, SLUICE_REGEX_DEFAULT, error);
}

SluiceRegex *
sluice_regex_new_full (const char        *pattern,
                       SluiceRegexFlags   flags,
                       GError           **error)
{
  SluiceRegex *regex;
  int code_error = 0;
  PCRE2_SIZE offset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
  pcre2_code *code;

  if (flags & SLUICE_REGEX_CASELESS)
    options |= PCRE2_CASELESS;
  code = pcre2_compile ((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED, options,
                        &code_error, &offset, NULL);

  if (code == NULL)
    {
      PCRE2_UCHAR message[256];

      pcre2_get_error_message (code_error, message, sizeof message);
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "%s at character %" G_GSIZE_FORMAT, (const char *) message, (gsize) offset);
      return NULL;
    }
  /* Without JIT (not built for this CPU), PCRE2 interprets: still right. */
  pcre2_jit_compile (code, PCRE2_JIT_COMPLETE);
  regex = g_new0 (SluiceRegex, 1);
  regex->code = code;
  return regex;
}

/* Whether @regex matches anywhere in @subject. A subject that is not
 * UTF-8, or a match that passes PCRE2's backtracking limit, does not
 * match. */
gboolean
sluice_regex_match (SluiceRegex *regex,
                    const char  *subject,
                    gsize        length)
{
  return pcre2_match (regex->code, (PCRE2_SPTR) subject, length, 0, 0, get_match_data (), NULL) >= 0;
}

/* The first match of @regex in @subject at or after byte @offset: its
 * bounds go to @match_start and @match_end (a pattern's \K moves the
 * start). @subject must be valid UTF-8 and @offset on a character
 * boundary: PCRE2 is told not to check, because checking the whole
 * subject on every call would make finding every match in a long text
 * quadratic. A pattern that backtracks past PCRE2's limits gives up,
 * which the caller must not take for "no match" where that matters (a
 * deny rule). */
SluiceRegexResult
sluice_regex_find (SluiceRegex *regex,
                   const char  *subject,
                   gsize        length,
                   gsize        offset,
                   gsize       *match_start,
                   gsize       *match_end)
{
  pcre2_match_data *data = get_match_data ();
  PCRE2_SIZE *ovector;
  int rc;

  if (offset > length)
    return SLUICE_REGEX_NO_MATCH;
  rc = pcre2_match (regex->code, (PCRE2_SPTR) subject, length, offset, PCRE2_NO_UTF_CHECK, data, NULL);
  if (rc == PCRE2_ERROR_NOMATCH)
    return SLUICE_REGEX_NO_MATCH;
  if (rc < 0)
    return SLUICE_REGEX_GAVE_UP;
  ovector = pcre2_get_ovector_pointer (data);
  *match_start = ovector[0];
  *match_end = ovector[1];
  /* \K in a lookahead can put the start after the end: no span. */
  if (*match_end < *match_start)
    *match_end = *match_start;
  return SLUICE_REGEX_FOUND;
}

void
sluice_regex_free (SluiceRegex *regex)
{
  if (regex == NULL)
    return;
  pcre2_code_free (regex->code);
  g_free (regex);
}
