/* sluice-sanitize-redact.c — the request's placeholder table, and
 * replacing every match of the redaction rules in a value (see
 * sluice-sanitize-private.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sanitize-private.h"

#include <string.h>

/* ---- the request's placeholder table ----------------------------------- */

static void
state_free (SluiceSanitizeState *state)
{
  g_hash_table_unref (state->by_value);
  g_hash_table_unref (state->originals);
  g_hash_table_unref (state->distinct);
  g_hash_table_unref (state->counts);
  g_ptr_array_unref (state->injection);
  g_free (state);
}

SluiceSanitizeState *
sluice_sanitize_get_state (SluiceContext *context)
{
  SluiceSanitizeState *state = g_object_get_data (G_OBJECT (context), SLUICE_SANITIZE_STATE_KEY);

  if (state != NULL)
    return state;
  state = g_new0 (SluiceSanitizeState, 1);
  state->by_value = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  state->originals = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  state->distinct = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  state->counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  state->injection = g_ptr_array_new_with_free_func (g_free);
  /* the table gets a reference of its own: the context drops its data
   * in no particular order */
  g_object_set_data_full (G_OBJECT (context), SLUICE_SANITIZE_PLACEHOLDERS_KEY,
                          g_hash_table_ref (state->originals), (GDestroyNotify) g_hash_table_unref);
  g_object_set_data_full (G_OBJECT (context), SLUICE_SANITIZE_STATE_KEY, state, (GDestroyNotify) state_free);
  return state;
}

static void
count (GHashTable *table,
       const char *name)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (table, name));

  g_hash_table_insert (table, g_strdup (name), GUINT_TO_POINTER (n + 1));
}

/* The placeholder of one matched value: the same value, the same one. */
static const char *
placeholder_for (SluiceSanitizeState *state,
                 SluiceSanitizeRule  *rule,
                 const char          *text,
                 gsize                length)
{
  g_autofree char *same = sluice_sanitize_rule_same_key (rule, text, length);
  g_autofree char *key = g_strconcat (rule->name, "\037", same, NULL);
  const char *placeholder = g_hash_table_lookup (state->by_value, key);
  char *made;

  count (state->counts, rule->name);
  if (placeholder != NULL)
    return placeholder;
  count (state->distinct, rule->name);
  made = g_strdup_printf ("[%s_%u]", rule->label,
                          GPOINTER_TO_UINT (g_hash_table_lookup (state->distinct, rule->name)));
  g_hash_table_insert (state->originals, g_strdup (made), g_strndup (text, length));
  g_hash_table_insert (state->by_value, g_steal_pointer (&key), made);
  return made;
}

/* ---- redacting ---------------------------------------------------------- */

typedef struct
{
  gsize start, end;
  guint rule;
} Span;

static gint
span_compare (gconstpointer a,
              gconstpointer b)
{
  const Span *x = a, *y = b;

  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  if (x->end != y->end)
    return x->end > y->end ? -1 : 1;   /* the longer first */
  return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Every match of every redaction rule, then left to right, a match that
 * overlaps one already taken is dropped. One pass builds the result. */
char *
sluice_sanitize_redact (GPtrArray            *rules,
                        SluiceSanitizeState  *state,
                        const char           *text,
                        gsize                 length,
                        guint                *n_redacted,
                        const char          **gave_up)
{
  g_autoptr(GArray) spans = g_array_new (FALSE, FALSE, sizeof (Span));
  GString *out;
  gsize pos = 0;

  for (guint r = 0; r < rules->len; r++)
    {
      SluiceSanitizeRule *rule = g_ptr_array_index (rules, r);
      gsize from = 0, start = 0, end = 0;

      SluiceRegexResult found;

      while (from <= length &&
             (found = sluice_sanitize_rule_find (rule, text, length, from, &start, &end)) != SLUICE_REGEX_NO_MATCH)
        {
          if (found == SLUICE_REGEX_GAVE_UP)
            {
              *gave_up = rule->name;
              return NULL;
            }
          if (end > start)
            {
              Span span = { start, end, r };

              g_array_append_val (spans, span);
              from = end;
            }
          else   /* an empty match: step over one character */
            from = start + (start < length ? (gsize) g_utf8_skip[(guchar) text[start]] : 1);
        }
    }
  if (spans->len == 0)
    return NULL;

  g_array_sort (spans, span_compare);
  out = g_string_sized_new (length + 16);
  for (guint i = 0; i < spans->len; i++)
    {
      Span *span = &g_array_index (spans, Span, i);

      if (span->start < pos)
        continue;
      g_string_append_len (out, text + pos, span->start - pos);
      g_string_append (out, placeholder_for (state, g_ptr_array_index (rules, span->rule),
                                             text + span->start, span->end - span->start));
      pos = span->end;
      (*n_redacted)++;
    }
  g_string_append_len (out, text + pos, length - pos);
  return g_string_free (out, FALSE);
}

