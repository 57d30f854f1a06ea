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
  gboolean    jit;
};

/* What each thread matches with: one match block, enough for any pattern
 * (with room for a single pair, pcre2_match() still says whether the
 * pattern matched), and a match context holding a JIT stack of up to
 * 4 MiB: the default 32 KiB runs out on a 2000-character string against
 * ^([a-z]|-)*$, since every repetition of a group keeps a frame. */
typedef struct {
  pcre2_match_data    *data;
  pcre2_match_context *context;
  pcre2_jit_stack     *stack;
} ThreadMatch;

static void
thread_match_free (gpointer data)
{
  ThreadMatch *tm = data;

  pcre2_match_data_free (tm->data);
  pcre2_match_context_free (tm->context);
  pcre2_jit_stack_free (tm->stack);
  g_free (tm);
}

static GPrivate thread_match = G_PRIVATE_INIT (thread_match_free);

static ThreadMatch *
get_thread_match (void)
{
  ThreadMatch *tm = g_private_get (&thread_match);

  if (tm == NULL)
    {
      tm = g_new0 (ThreadMatch, 1);
      tm->data = pcre2_match_data_create (1, NULL);
      tm->context = pcre2_match_context_create (NULL);
      tm->stack = pcre2_jit_stack_create (32 * 1024, SLUICE_REGEX_JIT_STACK_MAX, NULL);
      if (tm->stack != NULL)
        pcre2_jit_stack_assign (tm->context, NULL, tm->stack);
      pcre2_set_heap_limit (tm->context, SLUICE_REGEX_HEAP_LIMIT_KIB);
      g_private_set (&thread_match, tm);
    }
  return tm;
}

/* One pcre2_match() under @limit steps. An error other than "no match"
 * or "match limit" from JIT code (its stack, mostly) is retried by the
 * interpreter, which keeps its backtracking frames on the heap: with a
 * match block of its own, freed at once, so a long subject does not
 * leave megabytes with the thread. The interpreter needs about two steps
 * per character for a repeated group, so its limit grows with the
 * subject. *@interpreted says whether it ran. */
static int
run_match (SluiceRegex *regex,
           const char  *subject,
           gsize        length,
           gsize        offset,
           uint32_t     options,
           guint64      limit,
           gboolean    *interpreted)
{
  ThreadMatch *tm = get_thread_match ();
  pcre2_match_data *own;
  int rc;

  *interpreted = FALSE;
  pcre2_set_match_limit (tm->context, (uint32_t) MIN (limit, G_MAXUINT32));
  rc = pcre2_match (regex->code, (PCRE2_SPTR) subject, length, offset, options, tm->data, tm->context);
  if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH || rc == PCRE2_ERROR_MATCHLIMIT || !regex->jit)
    return rc;
  *interpreted = TRUE;
  own = pcre2_match_data_create (1, NULL);
  pcre2_set_match_limit (tm->context, (uint32_t) MIN (MAX (limit, 4 * (guint64) length + 64), G_MAXUINT32));
  rc = pcre2_match (regex->code, (PCRE2_SPTR) subject, length, offset, options | PCRE2_NO_JIT, own, tm->context);
  if (rc >= 0)
    {
      PCRE2_SIZE *from = pcre2_get_ovector_pointer (own), *to = pcre2_get_ovector_pointer (tm->data);

      to[0] = from[0];
      to[1] = from[1];
    }
  pcre2_match_data_free (own);
  return rc;
}

static void
set_match_error (GError **error,
                 int      rc)
{
  PCRE2_UCHAR message[256];

  if (pcre2_get_error_message (rc, message, sizeof message) < 0)
    g_snprintf ((char *) message, sizeof message, "PCRE2 error %d", rc);
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, (const char *) message);
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
  regex = g_new0 (SluiceRegex, 1);
  regex->code = code;
  /* Without JIT (not built for this CPU), PCRE2 interprets: still right. */
  regex->jit = pcre2_jit_compile (code, PCRE2_JIT_COMPLETE) == 0;
  return regex;
}

/* Whether @regex matches anywhere in @subject; an engine error counts
 * as no match. Callers for whom that matters use
 * sluice_regex_match_full(). */
gboolean
sluice_regex_match (SluiceRegex *regex,
                    const char  *subject,
                    gsize        length)
{
  return sluice_regex_match_full (regex, subject, length, NULL, NULL) == SLUICE_REGEX_FOUND;
}

/* The steps a match may take, tried in turn: most matches take a few, and
 * a match is charged the limit it ran under (PCRE2 does not say what it
 * used), so a cheap match is charged little and a costly one at most
 * about 25 times what it used. */
static const guint64 match_tiers[] = { 128, 4096, SLUICE_REGEX_MATCH_LIMIT };

SluiceRegexResult
sluice_regex_match_full (SluiceRegex  *regex,
                         const char   *subject,
                         gsize         length,
                         guint64      *steps,
                         GError      **error)
{
  int rc = PCRE2_ERROR_MATCHLIMIT;

  /* the scan itself, which PCRE2 does not count as steps */
  if (steps != NULL)
    *steps -= MIN (*steps, length / 4);
  for (guint i = 0; i < G_N_ELEMENTS (match_tiers) && rc == PCRE2_ERROR_MATCHLIMIT; i++)
    {
      guint64 limit = match_tiers[i];
      gboolean interpreted;

      if (steps != NULL && *steps < limit)
        {
          if (*steps == 0)
            break;
          limit = *steps;
        }
      rc = run_match (regex, subject, length, 0, 0, limit, &interpreted);
      if (steps != NULL)
        {
          /* the interpreter takes about ten times as long per step */
          guint64 charge = interpreted ? 10 * MAX (limit, 4 * (guint64) length + 64) : limit;

          *steps -= MIN (*steps, charge);
        }
      if (rc == PCRE2_ERROR_MATCHLIMIT && limit < match_tiers[i])
        break;   /* stopped by @steps, not by the tier */
    }
  if (rc >= 0)
    return SLUICE_REGEX_FOUND;
  if (rc == PCRE2_ERROR_NOMATCH)
    return SLUICE_REGEX_NO_MATCH;
  if (steps != NULL && *steps == 0 && rc == PCRE2_ERROR_MATCHLIMIT)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED,
                           "the steps allowed for pattern matching ran out");
      return SLUICE_REGEX_OVER_BUDGET;
    }
  set_match_error (error, rc);
  return SLUICE_REGEX_GAVE_UP;
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
  PCRE2_SIZE *ovector;
  gboolean interpreted;
  int rc;

  if (offset > length)
    return SLUICE_REGEX_NO_MATCH;
  rc = run_match (regex, subject, length, offset, PCRE2_NO_UTF_CHECK, SLUICE_REGEX_FIND_LIMIT, &interpreted);
  if (rc == PCRE2_ERROR_NOMATCH)
    return SLUICE_REGEX_NO_MATCH;
  if (rc < 0)
    return SLUICE_REGEX_GAVE_UP;
  ovector = pcre2_get_ovector_pointer (get_thread_match ()->data);
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
