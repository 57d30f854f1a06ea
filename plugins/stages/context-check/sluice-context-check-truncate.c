/* sluice-context-check-truncate.c — on_overflow: truncate. One string
 * variable is cut from the middle where it stands in the messages: its
 * head and tail are kept around a marker that says how many of its
 * tokens were cut, as few as make the prompt and the reserved output fit.
 *
 * The value is tokenized once; a binary search over the number of its
 * tokens kept (half from the head, half from the tail) counts each
 * candidate prompt exactly, so every probe costs the size of the window,
 * not of the value. The messages are changed in place of a re-render
 * (exact: the value is inserted as it is), so no re-run is spent.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE   /* memmem */

#include "sluice-context-check-private.h"

#include <string.h>

/* Bytes of @text (of @length) up to the last whole UTF-8 character. */
static gsize
whole_utf8_prefix (const char *text,
                   gsize       length)
{
  gsize lead = length;
  guint need;
  guchar c;

  while (lead > 0 && length - lead < 4 && ((guchar) text[lead - 1] & 0xC0) == 0x80)
    lead--;
  if (lead == 0)
    return 0;
  c = (guchar) text[lead - 1];
  need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  return lead - 1 + need <= length ? length : lead - 1;
}

/* 12345 → "12,345" */
static char *
format_count (gint64 n)
{
  g_autofree char *digits = g_strdup_printf ("%" G_GINT64_FORMAT, n);
  GString *out = g_string_new (NULL);
  gsize len = strlen (digits);

  for (gsize i = 0; i < len; i++)
    {
      if (i > 0 && (len - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
  return g_string_free (out, FALSE);
}

/* The value's first and last tokens, @keep in all, around the marker. */
static GString *
cut_value (SluiceTokenizer *tokenizer,
           const guint32   *ids,
           gsize            n,
           gsize            keep)
{
  gsize head_n = (keep + 1) / 2, tail_n = keep - head_n;
  gsize head_len = 0, tail_len = 0, skip = 0;
  g_autofree char *head = head_n > 0 ? sluice_tokenizer_decode (tokenizer, ids, head_n, &head_len) : NULL;
  g_autofree char *tail = tail_n > 0 ? sluice_tokenizer_decode (tokenizer, ids + n - tail_n, tail_n, &tail_len) : NULL;
  g_autofree char *cut = format_count ((gint64) (n - keep));
  GString *text = g_string_sized_new (head_len + tail_len + 64);

  /* A token may hold part of a character: the cut takes the rest. */
  if (head != NULL)
    g_string_append_len (text, head, (gssize) whole_utf8_prefix (head, head_len));
  g_string_append_printf (text, "\n[… %s tokens cut …]\n", cut);
  while (tail != NULL && skip < tail_len && ((guchar) tail[skip] & 0xC0) == 0x80)
    skip++;
  if (tail != NULL)
    g_string_append_len (text, tail + skip, (gssize) (tail_len - skip));
  return text;
}

/* Where the value stands in the messages: message index and byte offsets. */
typedef struct
{
  guint   message;
  GArray *offsets;   /* gsize */
} Found;

static void
found_clear (Found *found)
{
  g_array_unref (found->offsets);
}

static GArray *
find_value (JsonArray  *messages,
            const char *value,
            gsize       length)
{
  GArray *found = g_array_new (FALSE, FALSE, sizeof (Found));

  g_array_set_clear_func (found, (GDestroyNotify) found_clear);
  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *message = json_array_get_object_element (messages, i);
      const char *content = message != NULL ? sluice_json_get_string (message, "content") : NULL;
      gsize content_len = content != NULL ? strlen (content) : 0;
      const char *at = content;
      Found entry = { i, NULL };

      while (at != NULL && (gsize) (at - content) + length <= content_len &&
             (at = memmem (at, content_len - (gsize) (at - content), value, length)) != NULL)
        {
          gsize offset = (gsize) (at - content);

          if (entry.offsets == NULL)
            entry.offsets = g_array_new (FALSE, FALSE, sizeof (gsize));
          g_array_append_val (entry.offsets, offset);
          at += length;
        }
      if (entry.offsets != NULL)
        g_array_append_val (found, entry);
    }
  return found;
}

/* @messages with every occurrence of the value (@length bytes) replaced by @text. */
static JsonArray *
replace_value (JsonArray   *messages,
               GArray      *found,
               gsize        length,
               const GString *text)
{
  JsonArray *copy = json_array_new ();
  guint next = 0;

  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      Found *entry = next < found->len ? &g_array_index (found, Found, next) : NULL;
      JsonObject *message, *replaced;
      const char *content;
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;
      GString *out;
      gsize from = 0;

      if (entry == NULL || entry->message != i)
        {
          json_array_add_element (copy, json_node_ref (json_array_get_element (messages, i)));
          continue;
        }
      next++;
      message = json_array_get_object_element (messages, i);
      content = sluice_json_get_string (message, "content");
      out = g_string_sized_new (strlen (content) + entry->offsets->len * text->len);
      for (guint j = 0; j < entry->offsets->len; j++)
        {
          gsize at = g_array_index (entry->offsets, gsize, j);

          g_string_append_len (out, content + from, (gssize) (at - from));
          g_string_append_len (out, text->str, (gssize) text->len);
          from = at + length;
        }
      g_string_append (out, content + from);

      replaced = json_object_new ();
      json_object_iter_init (&iter, message);
      while (json_object_iter_next (&iter, &name, &member))
        if (!g_str_equal (name, "content"))
          json_object_set_member (replaced, name, json_node_ref (member));
      json_object_set_string_member (replaced, "content", out->str);
      g_string_free (out, TRUE);
      json_array_add_object_element (copy, replaced);
    }
  return copy;
}

/* A copy of @node with the string at the dotted @path (through objects)
 * replaced by @text, sharing the rest; NULL when the path is not there. */
static JsonNode *
with_string_at (JsonNode   *node,
                const char *path,
                const char *text)
{
  const char *dot = strchr (path, '.');
  g_autofree char *name = dot != NULL ? g_strndup (path, (gsize) (dot - path)) : g_strdup (path);
  JsonObject *object, *copy;
  JsonNode *member, *changed;
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  object = json_node_get_object (node);
  member = json_object_get_member (object, name);
  if (member == NULL)
    return NULL;
  if (dot == NULL)
    changed = json_node_init_string (json_node_alloc (), text);
  else if ((changed = with_string_at (member, dot + 1, text)) == NULL)
    return NULL;
  copy = json_object_new ();
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &key, &value))
    json_object_set_member (copy, key, g_str_equal (key, name) ? json_node_ref (changed) : json_node_ref (value));
  json_node_unref (changed);
  changed = json_node_alloc ();
  json_node_take_object (json_node_init (changed, JSON_NODE_OBJECT), copy);
  return changed;
}

/* The variable as the context holds it, shortened too, so that anything
 * that renders it again sees what was sent (the input stays as it came:
 * the values it shares with the variables are not changed). */
static void
shorten_variable (SluiceContext *context,
                  const char    *path,
                  const char    *text)
{
  JsonObject *variables = sluice_context_get_variables (context);
  const char *dot = strchr (path, '.');
  g_autofree char *top = dot != NULL ? g_strndup (path, (gsize) (dot - path)) : g_strdup (path);
  JsonNode *changed;

  if (dot == NULL)
    {
      json_object_set_string_member (variables, top, text);
      return;
    }
  changed = with_string_at (json_object_get_member (variables, top), dot + 1, text);
  if (changed != NULL)
    json_object_set_member (variables, top, changed);
}

/* The binary search over the number of the value's tokens kept. */
typedef struct
{
  SluiceTokenizer *tokenizer;
  const guint32   *ids;
  gsize            n;
  JsonArray       *messages;
  GArray          *found;
  gsize            length;
  Checked         *checked;
  gdouble          safety_factor;
  gint64           count;            /* of the last candidate */
  GString         *best;             /* the cut value of the largest keep that fits */
  JsonArray       *best_messages;
  gint64           best_tokens;
  gboolean         best_estimated;
} Search;

static void
search_clear (Search *search)
{
  if (search->best != NULL)
    g_string_free (search->best, TRUE);
  g_clear_pointer (&search->best_messages, json_array_unref);
}

/* Counts the prompt with @keep of the value's tokens kept, exactly;
 * TRUE (and the candidate kept as the best) when it fits. */
static gboolean
try_keep (Search *search,
          gsize   keep)
{
  GString *text = cut_value (search->tokenizer, search->ids, search->n, keep);
  JsonArray *candidate = replace_value (search->messages, search->found, search->length, text);
  gboolean estimated = FALSE;

  search->count = sluice_count_prompt_tokens (candidate, search->checked->provider, search->checked->model,
                                              search->safety_factor, &estimated);
  if (search->count + search->checked->reserve > search->checked->window)
    {
      g_string_free (text, TRUE);
      json_array_unref (candidate);
      return FALSE;
    }
  search_clear (search);
  search->best = text;
  search->best_messages = candidate;
  search->best_tokens = search->count;
  search->best_estimated = estimated;
  return TRUE;
}

SluiceVerdict
sluice_context_check_truncate (SluiceContext  *context,
                               JsonArray      *messages,
                               Checked        *checked,
                               const char     *variable,
                               gdouble         safety_factor,
                               gint64          tokens,
                               gboolean        estimated,
                               GError        **error)
{
  g_autofree char *too_long = sluice_context_check_overflow_message (checked, tokens, estimated);
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), sluice_context_get_variables (context));
  JsonNode *node = sluice_json_lookup_path (root, variable);
  const char *value = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                      json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  gsize length = value != NULL ? strlen (value) : 0;
  g_autoptr(GArray) found = NULL;
  g_autofree guint32 *ids = NULL;
  g_autoptr(GError) local = NULL;
  SluiceTokenizer *tokenizer;
  Search search = { 0 };
  gsize n = 0, low, high;
  JsonObject *truncated;

  if (length == 0)
    {
      g_autofree char *message = g_strdup_printf ("%s, and '%s' cannot be cut: the input has no text there",
                                                  too_long, variable);

      return sluice_context_check_fail (context, checked, tokens, message, error);
    }
  found = find_value (messages, value, length);
  if (found->len == 0)
    {
      g_autofree char *message = g_strdup_printf ("%s, and '%s' cannot be cut: its text is not in the messages "
                                                  "as it is (escaped, or not used)", too_long, variable);

      return sluice_context_check_fail (context, checked, tokens, message, error);
    }

  tokenizer = sluice_tokenizer_get_for_model (checked->provider, checked->model);
  if (tokenizer == NULL)
    tokenizer = sluice_tokenizer_get ("o200k_base", &local);
  if (tokenizer != NULL)
    ids = sluice_tokenizer_encode (tokenizer, value, (gssize) length, SLUICE_SPECIAL_TOKENS_AS_TEXT, &n, &local);
  if (ids == NULL)
    {
      g_autofree char *message = g_strdup_printf ("%s, and '%s' cannot be cut: %s", too_long, variable,
                                                  local != NULL ? local->message : "no tokenizer");

      return sluice_context_check_fail (context, checked, tokens, message, error);
    }

  search.tokenizer = tokenizer;
  search.ids = ids;
  search.n = n;
  search.messages = messages;
  search.found = found;
  search.length = length;
  search.checked = checked;
  search.safety_factor = safety_factor;
  if (!try_keep (&search, 0))
    {
      g_autofree char *message = g_strdup_printf ("%s, and even with all of '%s' cut the prompt needs %"
                                                  G_GINT64_FORMAT " tokens", too_long, variable, search.count);

      search_clear (&search);
      return sluice_context_check_fail (context, checked, tokens, message, error);
    }
  /* The most of the value's tokens that can be kept: all of them did not
   * fit, and it cannot keep many more than the window holds (the slack is
   * for tokens that merge differently once cut). */
  low = 0;
  high = MIN (n - 1, (gsize) MAX (checked->window - checked->reserve, 0) * 2 + 16);
  while (low < high)
    {
      gsize keep = low + (high - low + 1) / 2;

      if (try_keep (&search, keep))
        low = keep;
      else
        high = keep - 1;
    }

  sluice_context_set_messages (context, search.best_messages);
  sluice_context_check_keep_count (context, checked, search.best_tokens, search.best_estimated);
  shorten_variable (context, variable, search.best->str);

  truncated = json_object_new ();
  json_object_set_string_member (truncated, "variable", variable);
  json_object_set_int_member (truncated, "tokens_removed", (gint64) (n - low));
  json_object_set_int_member (truncated, "tokens_kept", (gint64) low);
  json_object_set_int_member (truncated, "prompt_tokens_before", tokens);
  json_object_set_object_member (sluice_context_get_preflight (context), "truncated", truncated);
  g_message ("request %s: cut %" G_GSIZE_FORMAT " of the %" G_GSIZE_FORMAT " tokens of '%s' so that the prompt "
             "(%" G_GINT64_FORMAT " tokens, was %" G_GINT64_FORMAT ") and %" G_GINT64_FORMAT
             " reserved for the output fit the %" G_GINT64_FORMAT "-token window of %s",
             sluice_context_get_request_id (context), n - low, n, variable, search.best_tokens, tokens,
             checked->reserve, checked->window, checked->model);
  sluice_context_check_record (context, checked, search.best_tokens, search.best_estimated);
  search_clear (&search);
  return SLUICE_VERDICT_CONTINUE;
}
