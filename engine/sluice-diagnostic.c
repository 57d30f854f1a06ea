/* sluice-diagnostic.c: problems found in a file, with their positions */

#define G_LOG_DOMAIN "sluice-diagnostic"

#include "sluice-diagnostic-private.h"

#include <string.h>

/**
 * sluice_diagnostic_new:
 * @file: (nullable): file name, copied
 * @line: 1-based line, or 0 when unknown
 * @column: 1-based column, or 0 when unknown
 * @is_warning: whether this is a warning rather than an error
 * @message: the message, copied
 *
 * Returns: (transfer full): a new diagnostic; free with sluice_diagnostic_free()
 */
SluiceDiagnostic *
sluice_diagnostic_new (const char *file,
                       guint       line,
                       guint       column,
                       gboolean    is_warning,
                       const char *message)
{
  SluiceDiagnostic *d;

  g_return_val_if_fail (message != NULL, NULL);

  d = g_new0 (SluiceDiagnostic, 1);
  d->file = g_strdup (file);
  d->line = line;
  d->column = column;
  d->is_warning = !!is_warning;
  d->message = g_strdup (message);

  return d;
}

/**
 * sluice_diagnostic_free:
 * @d: (nullable) (transfer full): a diagnostic
 */
void
sluice_diagnostic_free (SluiceDiagnostic *d)
{
  if (d == NULL)
    return;

  g_free (d->file);
  g_free (d->message);
  g_free (d);
}

/**
 * sluice_diagnostic_to_string:
 * @d: a diagnostic
 *
 * Formats @d the way compilers do: `file:line:col: error: message`, or
 * `warning:` for a warning. The file, line and column parts are left out
 * when unknown (a column without a line is left out too).
 *
 * Returns: (transfer full): the formatted text
 */
char *
sluice_diagnostic_to_string (const SluiceDiagnostic *d)
{
  GString *s;

  g_return_val_if_fail (d != NULL, NULL);

  s = g_string_new (NULL);

  if (d->file != NULL)
    g_string_append_printf (s, "%s:", d->file);
  if (d->line > 0)
    {
      g_string_append_printf (s, "%u:", d->line);
      if (d->column > 0)
        g_string_append_printf (s, "%u:", d->column);
    }
  if (s->len > 0)
    g_string_append_c (s, ' ');

  g_string_append (s, d->is_warning ? "warning: " : "error: ");
  g_string_append (s, d->message);

  return g_string_free (s, FALSE);
}

/**
 * sluice_diagnostics_add:
 * @diagnostics: (element-type SluiceDiagnostic) (nullable): an array created
 *   with sluice_diagnostic_free() as its free function; when %NULL the
 *   diagnostic is dropped
 * @file: (nullable): file name
 * @line: 1-based line, or 0
 * @column: 1-based column, or 0
 * @is_warning: whether this is a warning
 * @format: printf-style format of the message
 * @...: arguments for @format
 *
 * Appends a new diagnostic to @diagnostics.
 */
void
sluice_diagnostics_add (GPtrArray  *diagnostics,
                        const char *file,
                        guint       line,
                        guint       column,
                        gboolean    is_warning,
                        const char *format,
                        ...)
{
  g_autofree char *message = NULL;
  va_list args;

  g_return_if_fail (format != NULL);

  if (diagnostics == NULL)
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_ptr_array_add (diagnostics,
                   sluice_diagnostic_new (file, line, column, is_warning, message));
}

/**
 * sluice_diagnostics_count_errors:
 * @diagnostics: (element-type SluiceDiagnostic) (nullable): diagnostics
 *
 * Returns: how many of @diagnostics are errors (not warnings)
 */
guint
sluice_diagnostics_count_errors (GPtrArray *diagnostics)
{
  guint n = 0;

  if (diagnostics == NULL)
    return 0;

  for (guint i = 0; i < diagnostics->len; i++)
    {
      const SluiceDiagnostic *d = g_ptr_array_index (diagnostics, i);

      if (!d->is_warning)
        n++;
    }

  return n;
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent
 * transposition, so "retyr" is one edit from "retry"), on code points so a
 * non-ASCII character counts as one edit. Gives up early once every cell of
 * a row exceeds @limit: callers only care about close words. */
static guint
edit_distance (const gunichar *a,
               glong           la,
               const gunichar *b,
               glong           lb,
               guint           limit)
{
  g_autofree guint *rows = NULL;
  guint *prev2, *prev, *cur;
  guint result;

  if ((guint) ABS (la - lb) > limit)
    return limit + 1;

  rows = g_new (guint, 3 * (lb + 1));
  prev2 = rows;
  prev = rows + (lb + 1);
  cur = rows + 2 * (lb + 1);

  for (glong j = 0; j <= lb; j++)
    prev[j] = j;

  for (glong i = 1; i <= la; i++)
    {
      guint row_min;
      guint *tmp;

      cur[0] = i;
      row_min = cur[0];

      for (glong j = 1; j <= lb; j++)
        {
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
          guint v = MIN (MIN (prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);

          if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
            v = MIN (v, prev2[j - 2] + 1);

          cur[j] = v;
          row_min = MIN (row_min, v);
        }

      if (row_min > limit)
        return limit + 1;

      tmp = prev2;
      prev2 = prev;
      prev = cur;
      cur = tmp;
    }

  result = prev[lb];

  return result;
}

static gunichar *
to_code_points (const char *s,
                glong      *len)
{
  if (g_utf8_validate (s, -1, NULL))
    return g_utf8_to_ucs4_fast (s, -1, len);

  /* Not UTF-8: compare bytes. */
  {
    gsize n = strlen (s);
    gunichar *out = g_new (gunichar, n + 1);

    for (gsize i = 0; i < n; i++)
      out[i] = (guchar) s[i];
    out[n] = 0;
    *len = n;

    return out;
  }
}

/**
 * sluice_suggest:
 * @word: a word that was not recognised (a misspelt key or plugin name)
 * @candidates: (array zero-terminated=1) (nullable): the valid words
 *
 * Finds the candidate closest to @word by edit distance (Levenshtein, with
 * a swap of two adjacent characters counting as one edit), provided it is
 * within max(2, length of @word / 3) edits. Ties go to the earliest
 * candidate.
 *
 * Returns: (transfer none) (nullable): an element of @candidates, or %NULL
 */
const char *
sluice_suggest (const char         *word,
                const char * const *candidates)
{
  g_autofree gunichar *w = NULL;
  const char *best = NULL;
  guint best_distance;
  glong wlen = 0;
  guint limit;

  g_return_val_if_fail (word != NULL, NULL);

  if (candidates == NULL)
    return NULL;

  w = to_code_points (word, &wlen);
  limit = MAX (2, (guint) wlen / 3);
  best_distance = limit + 1;

  for (guint i = 0; candidates[i] != NULL; i++)
    {
      g_autofree gunichar *c = NULL;
      glong clen = 0;
      guint d;

      c = to_code_points (candidates[i], &clen);
      d = edit_distance (w, wlen, c, clen, MIN (limit, best_distance));

      if (d < best_distance)
        {
          best = candidates[i];
          best_distance = d;
          if (d == 0)
            break;
        }
    }

  return best_distance <= limit ? best : NULL;
}
