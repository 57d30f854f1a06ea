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
  SluiceRegex *regex;
  int code_error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code *code = pcre2_compile ((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED,
                                    PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code_error, &offset, NULL);

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

void
sluice_regex_free (SluiceRegex *regex)
{
  if (regex == NULL)
    return;
  pcre2_code_free (regex->code);
  g_free (regex);
}
