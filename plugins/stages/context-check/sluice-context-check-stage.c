/* sluice-context-check-stage.c — checks, before any request, that the
 * prompt and the output reserved for the answer fit the model's context
 * window, and what to do when they do not.
 *
 * The window and the model's largest output come from the catalog
 * (data/models.json); `window:` stands in for a model the catalog does
 * not know. The prompt's tokens are the token-count stage's count when
 * it counted for that model, else counted here the same way. The output
 * reserved is the target's `max_tokens`, else `reserve_output`, else the
 * model's `max_output` capped at 4096 (4096 when unknown).
 *
 * on_overflow:
 *   reject    fail with context_overflow, naming the numbers;
 *   truncate  cut the middle of one input variable out of the messages,
 *             keeping its head and tail around a marker, as few tokens as
 *             make the prompt fit (a binary search over the tokens kept,
 *             each candidate counted exactly);
 *   fallback  tell the call stage which of its targets cannot hold the
 *             prompt (the preflight's `overflowing_targets`): it skips
 *             them without a request; when none can, fail here.
 *
 * Either way the preflight record (sluice_context_get_preflight()) gets
 * the numbers and the pre-flight cost estimate, which the budget's own
 * estimate function makes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE   /* memmem */

#include "sluice-context-check-stage.h"
#include "sluice-budget-private.h"

#include <math.h>
#include <string.h>

#define DEFAULT_RESERVE_CAP 4096

typedef enum
{
  OVERFLOW_REJECT,
  OVERFLOW_TRUNCATE,
  OVERFLOW_FALLBACK,
} Overflow;

/* A model the prompt must fit. */
typedef struct
{
  char   *provider;
  char   *model;
  gint64  window;
  gint64  reserve;
} Checked;

struct _SluiceContextCheckStage
{
  GObject    parent_instance;

  GPtrArray *checked;          /* of Checked: the call stage's targets in order, or the block's model */
  Overflow   on_overflow;
  char      *variable;         /* truncate: the dotted path of the variable to cut */
  gdouble    safety_factor;
};

static void sluice_context_check_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceContextCheckStage, sluice_context_check_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_context_check_stage_iface_init))

static void
checked_free (Checked *checked)
{
  g_free (checked->provider);
  g_free (checked->model);
  g_free (checked);
}

/* ---- counting ---------------------------------------------------------------------- */

/* The prompt's tokens for @checked's model: the token-count stage's count
 * when it was for that model, else counted here. */
static gint64
count_for (SluiceContextCheckStage *self,
           SluiceContext           *context,
           JsonArray               *messages,
           Checked                 *checked,
           gboolean                *estimated)
{
  const char *counted_for = NULL;
  gint64 tokens = sluice_context_get_counted_prompt_tokens (context, estimated, &counted_for);

  if (tokens >= 0 && g_strcmp0 (counted_for, checked->model) == 0)
    return tokens;
  return sluice_count_prompt_tokens (messages, checked->provider, checked->model, self->safety_factor, estimated);
}

/* Leaves the count where the budget, the rate-limit stage and the route
 * policy read it, as the token-count stage does. */
static void
keep_count (SluiceContext *context,
            Checked       *checked,
            gint64         tokens,
            gboolean       estimated)
{
  JsonObject *variables = sluice_context_get_variables (context);

  sluice_context_set_counted_prompt_tokens (context, tokens, estimated, checked->model);
  json_object_set_int_member (variables, "input_tokens", tokens);
  json_object_set_boolean_member (variables, "input_tokens_estimated", estimated);
}

static char *
overflow_message (Checked  *checked,
                  gint64    tokens,
                  gboolean  estimated)
{
  return g_strdup_printf ("the prompt of %" G_GINT64_FORMAT " tokens%s and the %" G_GINT64_FORMAT
                          " reserved for the output need %" G_GINT64_FORMAT " tokens, more than the %"
                          G_GINT64_FORMAT "-token context window of %s (%s)",
                          tokens, estimated ? " (estimated)" : "", checked->reserve, tokens + checked->reserve,
                          checked->window, checked->model, checked->provider != NULL ? checked->provider : "no provider");
}

static void
record_preflight (SluiceContext *context,
                  Checked       *checked,
                  gint64         tokens,
                  gboolean       estimated)
{
  JsonObject *preflight = sluice_context_get_preflight (context);
  gdouble cost;

  if (checked->provider != NULL)
    json_object_set_string_member (preflight, "provider", checked->provider);
  json_object_set_string_member (preflight, "model", checked->model);
  json_object_set_int_member (preflight, "prompt_tokens", tokens);
  json_object_set_boolean_member (preflight, "prompt_tokens_estimated", estimated);
  json_object_set_int_member (preflight, "reserved_output_tokens", checked->reserve);
  json_object_set_int_member (preflight, "context_window", checked->window);
  /* The same estimate the budget makes before the attempt (the count is
   * in the context by now, so it is not made again). */
  cost = sluice_budget_estimate_cost (context, checked->provider, checked->model, checked->reserve);
  if (cost >= 0)
    json_object_set_double_member (preflight, "estimated_cost_usd", cost);
  else
    json_object_set_null_member (preflight, "estimated_cost_usd");
}

static SluiceVerdict
fail_overflow (SluiceContext  *context,
               Checked        *checked,
               gint64          tokens,
               const char     *message,
               GError        **error)
{
  g_autoptr(JsonObject) details = json_object_new ();

  json_object_set_int_member (details, "prompt_tokens", tokens);
  json_object_set_int_member (details, "reserved_output_tokens", checked->reserve);
  json_object_set_int_member (details, "context_window", checked->window);
  json_object_set_string_member (details, "model", checked->model);
  sluice_context_set_error_details (context, details);
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_CONTEXT_OVERFLOW, message);
  return SLUICE_VERDICT_FAIL;
}

/* ---- truncate ---------------------------------------------------------------------- */

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

static SluiceVerdict
truncate_to_fit (SluiceContextCheckStage  *self,
                 SluiceContext            *context,
                 JsonArray                *messages,
                 Checked                  *checked,
                 gint64                    tokens,
                 gboolean                  estimated,
                 GError                  **error)
{
  g_autofree char *too_long = overflow_message (checked, tokens, estimated);
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), sluice_context_get_variables (context));
  JsonNode *node = sluice_json_lookup_path (root, self->variable);
  const char *value = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                      json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  gsize length = value != NULL ? strlen (value) : 0;
  g_autoptr(GArray) found = NULL;
  g_autofree guint32 *ids = NULL;
  g_autoptr(GString) best = NULL;
  g_autoptr(JsonArray) best_messages = NULL;
  g_autoptr(GError) local = NULL;
  SluiceTokenizer *tokenizer;
  gint64 best_tokens = -1;
  gboolean best_estimated = estimated;
  gsize n = 0, low, high;
  JsonObject *truncated;

  if (length == 0)
    {
      g_autofree char *message = g_strdup_printf ("%s, and '%s' cannot be cut: the input has no text there",
                                                  too_long, self->variable);

      return fail_overflow (context, checked, tokens, message, error);
    }
  found = find_value (messages, value, length);
  if (found->len == 0)
    {
      g_autofree char *message = g_strdup_printf ("%s, and '%s' cannot be cut: its text is not in the messages "
                                                  "as it is (escaped, or not used)", too_long, self->variable);

      return fail_overflow (context, checked, tokens, message, error);
    }

  tokenizer = sluice_tokenizer_get_for_model (checked->provider, checked->model);
  if (tokenizer == NULL)
    tokenizer = sluice_tokenizer_get ("o200k_base", &local);
  if (tokenizer != NULL)
    ids = sluice_tokenizer_encode (tokenizer, value, (gssize) length, SLUICE_SPECIAL_TOKENS_AS_TEXT, &n, &local);
  if (ids == NULL)
    {
      g_autofree char *message = g_strdup_printf ("%s, and '%s' cannot be cut: %s", too_long, self->variable,
                                                  local != NULL ? local->message : "no tokenizer");

      return fail_overflow (context, checked, tokens, message, error);
    }

  /* The largest number of the value's tokens kept that fits: the value
   * cannot keep more tokens than the whole window holds (plus slack for
   * tokens that merge differently once cut). */
  low = 0;
  high = MIN (n, (gsize) MAX (checked->window - checked->reserve, 0) * 2 + 16);
  for (gboolean first = TRUE; ; first = FALSE)
    {
      gsize keep = first ? 0 : low + (high - low + 1) / 2;
      g_autoptr(GString) text = NULL;
      g_autoptr(JsonArray) candidate = NULL;
      gboolean candidate_estimated = FALSE;
      gint64 count;

      if (!first && low >= high)
        break;
      if (!first && keep >= n)
        {
          high = n - 1;
          continue;
        }
      text = cut_value (tokenizer, ids, n, keep);
      candidate = replace_value (messages, found, length, text);
      count = sluice_count_prompt_tokens (candidate, checked->provider, checked->model, self->safety_factor,
                                          &candidate_estimated);
      if (count + checked->reserve <= checked->window)
        {
          low = keep;
          best_tokens = count;
          best_estimated = candidate_estimated;
          if (best != NULL)
            g_string_free (best, TRUE);
          best = g_steal_pointer (&text);
          g_clear_pointer (&best_messages, json_array_unref);
          best_messages = g_steal_pointer (&candidate);
        }
      else if (first)
        {
          g_autofree char *message = g_strdup_printf ("%s, and even with all of '%s' cut the prompt needs %"
                                                      G_GINT64_FORMAT " tokens", too_long, self->variable, count);

          return fail_overflow (context, checked, tokens, message, error);
        }
      else
        high = keep - 1;
    }

  sluice_context_set_messages (context, best_messages);
  keep_count (context, checked, best_tokens, best_estimated);
  shorten_variable (context, self->variable, best->str);

  truncated = json_object_new ();
  json_object_set_string_member (truncated, "variable", self->variable);
  json_object_set_int_member (truncated, "tokens_removed", (gint64) (n - low));
  json_object_set_int_member (truncated, "tokens_kept", (gint64) low);
  json_object_set_int_member (truncated, "prompt_tokens_before", tokens);
  json_object_set_object_member (sluice_context_get_preflight (context), "truncated", truncated);
  g_message ("request %s: cut %" G_GSIZE_FORMAT " of the %" G_GSIZE_FORMAT " tokens of '%s' so that the prompt "
             "(%" G_GINT64_FORMAT " tokens, was %" G_GINT64_FORMAT ") and %" G_GINT64_FORMAT
             " reserved for the output fit the %" G_GINT64_FORMAT "-token window of %s",
             sluice_context_get_request_id (context), n - low, n, self->variable, best_tokens, tokens,
             checked->reserve, checked->window, checked->model);
  record_preflight (context, checked, best_tokens, best_estimated);
  return SLUICE_VERDICT_CONTINUE;
}

/* ---- the stage ---------------------------------------------------------------------- */

static SluiceVerdict
check_fallback (SluiceContextCheckStage  *self,
                SluiceContext            *context,
                JsonArray                *messages,
                GError                  **error)
{
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(JsonArray) overflowing = json_array_new ();
  g_autoptr(GString) reasons = g_string_new (NULL);
  gint first_fit = -1;
  gint64 first_tokens = -1, last_tokens = -1;
  gboolean first_estimated = FALSE;

  for (guint i = 0; i < self->checked->len; i++)
    {
      Checked *checked = g_ptr_array_index (self->checked, i);
      g_autofree char *key = g_strdup_printf ("%s\x1f%s", checked->provider ? checked->provider : "", checked->model);
      gpointer cached;
      gboolean estimated = FALSE;
      gint64 tokens;

      /* Targets of the same model count once (the low bit: estimated). */
      if (g_hash_table_lookup_extended (counts, key, NULL, &cached))
        {
          tokens = GPOINTER_TO_SIZE (cached) >> 1;
          estimated = (GPOINTER_TO_SIZE (cached) & 1) != 0;
        }
      else
        {
          tokens = count_for (self, context, messages, checked, &estimated);
          g_hash_table_insert (counts, g_steal_pointer (&key),
                               GSIZE_TO_POINTER (((gsize) tokens << 1) | (estimated ? 1 : 0)));
        }
      last_tokens = tokens;
      if (tokens + checked->reserve <= checked->window)
        {
          if (first_fit < 0)
            {
              first_fit = (gint) i;
              first_tokens = tokens;
              first_estimated = estimated;
            }
        }
      else
        {
          g_autofree char *message = overflow_message (checked, tokens, estimated);
          JsonObject *entry = json_object_new ();

          json_object_set_int_member (entry, "index", i);
          json_object_set_string_member (entry, "message", message);
          json_array_add_object_element (overflowing, entry);
          g_string_append_printf (reasons, "%s%s", reasons->len > 0 ? "; " : "", message);
        }
    }
  if (first_fit < 0)
    {
      Checked *last = g_ptr_array_index (self->checked, self->checked->len - 1);
      g_autofree char *message = g_strdup_printf ("no target can hold the prompt: %s", reasons->str);

      return fail_overflow (context, last, last_tokens, message, error);
    }
  keep_count (context, g_ptr_array_index (self->checked, first_fit), first_tokens, first_estimated);
  record_preflight (context, g_ptr_array_index (self->checked, first_fit), first_tokens, first_estimated);
  if (json_array_get_length (overflowing) > 0)
    json_object_set_array_member (sluice_context_get_preflight (context), "overflowing_targets",
                                  g_steal_pointer (&overflowing));
  return SLUICE_VERDICT_CONTINUE;
}

static SluiceVerdict
sluice_context_check_stage_process (SluiceStage    *stage,
                                    SluiceContext  *context,
                                    GError        **error)
{
  SluiceContextCheckStage *self = SLUICE_CONTEXT_CHECK_STAGE (stage);
  JsonArray *messages = sluice_context_get_messages (context);
  JsonObject *preflight = sluice_context_get_preflight (context);
  g_autoptr(GList) members = NULL;
  Checked *checked;
  gboolean estimated = FALSE;
  gint64 tokens;

  if (messages == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                           "there are no messages to check: put an assemble stage before context-check");
      return SLUICE_VERDICT_FAIL;
    }
  /* Checked again (a rerun from an earlier stage): the old record goes. */
  members = json_object_get_members (preflight);
  for (GList *l = members; l != NULL; l = l->next)
    json_object_remove_member (preflight, l->data);

  if (self->on_overflow == OVERFLOW_FALLBACK)
    return check_fallback (self, context, messages, error);

  checked = g_ptr_array_index (self->checked, 0);
  tokens = count_for (self, context, messages, checked, &estimated);
  if (sluice_context_get_counted_prompt_tokens (context, NULL, NULL) < 0)
    keep_count (context, checked, tokens, estimated);
  if (tokens + checked->reserve <= checked->window)
    {
      record_preflight (context, checked, tokens, estimated);
      return SLUICE_VERDICT_CONTINUE;
    }
  if (self->on_overflow == OVERFLOW_TRUNCATE)
    return truncate_to_fit (self, context, messages, checked, tokens, estimated, error);
  {
    g_autofree char *message = overflow_message (checked, tokens, estimated);

    return fail_overflow (context, checked, tokens, message, error);
  }
}

/* ---- configuration ------------------------------------------------------------------ */

static gboolean
add_checked (SluiceContextCheckStage  *self,
             const char               *provider,
             const char               *model,
             JsonObject               *target,
             gint64                    window,
             gint64                    reserve,
             GError                  **error)
{
  JsonObject *entry = sluice_catalog_lookup (sluice_catalog_get_default (), provider, model);
  gint64 max_output = sluice_json_get_int (entry, "max_output", -1);
  Checked *checked;

  if (sluice_json_get_int (entry, "context_window", -1) > 0)
    window = sluice_json_get_int (entry, "context_window", -1);
  if (window <= 0)
    return sluice_config_invalid (error, "model '%s' of provider '%s' is not in the model catalog "
                                         "(data/models.json): give its context window with 'window: TOKENS'",
                                  model, provider != NULL ? provider : "(none)");
  if (sluice_json_get_int (target, "max_tokens", -1) >= 0)
    reserve = sluice_json_get_int (target, "max_tokens", -1);
  else if (reserve < 0)
    reserve = max_output > 0 ? MIN (max_output, DEFAULT_RESERVE_CAP) : DEFAULT_RESERVE_CAP;
  /* With fallback such a target is only ever skipped. */
  if (reserve >= window && self->on_overflow != OVERFLOW_FALLBACK)
    return sluice_config_invalid (error, "reserving %" G_GINT64_FORMAT " tokens for the output leaves no room "
                                         "for a prompt in the %" G_GINT64_FORMAT "-token context window of %s",
                                  reserve, window, model);

  checked = g_new0 (Checked, 1);
  checked->provider = g_strdup (provider);
  checked->model = g_strdup (model);
  checked->window = window;
  checked->reserve = reserve;
  g_ptr_array_add (self->checked, checked);
  return TRUE;
}

/* The call stage's targets, in its order. */
static GPtrArray *
call_targets (SluicePipeline *pipeline)
{
  JsonObject *call = sluice_pipeline_get_stage_config (pipeline, "call");
  GPtrArray *targets = g_ptr_array_new ();
  JsonNode *node;

  if (call == NULL)
    return targets;
  node = json_object_get_member (call, "target");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    g_ptr_array_add (targets, json_node_get_object (node));
  node = json_object_get_member (call, "targets");
  if (targets->len == 0 && node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
      {
        JsonNode *element = json_array_get_element (json_node_get_array (node), i);

        g_ptr_array_add (targets, JSON_NODE_HOLDS_OBJECT (element) ? json_node_get_object (element) : NULL);
      }
  return targets;
}

static gboolean
sluice_context_check_stage_configure (SluiceStage     *stage,
                                      SluicePipeline  *pipeline,
                                      JsonObject      *config,
                                      GError         **error)
{
  SluiceContextCheckStage *self = SLUICE_CONTEXT_CHECK_STAGE (stage);
  g_autoptr(GPtrArray) targets = call_targets (pipeline);
  const char *model = sluice_json_get_string (config, "model");
  const char *provider = sluice_json_get_string (config, "provider");
  const char *on_overflow = sluice_json_get_string (config, "on_overflow");
  JsonNode *truncate = json_object_get_member (config, "truncate");
  JsonNode *factor = json_object_get_member (config, "safety_factor");
  gint64 window = sluice_json_get_int (config, "window", -1);
  gint64 reserve = sluice_json_get_int (config, "reserve_output", -1);
  const char *variable = NULL;

  g_ptr_array_set_size (self->checked, 0);
  g_clear_pointer (&self->variable, g_free);

  if (on_overflow == NULL || g_str_equal (on_overflow, "reject"))
    self->on_overflow = OVERFLOW_REJECT;
  else if (g_str_equal (on_overflow, "truncate"))
    self->on_overflow = OVERFLOW_TRUNCATE;
  else if (g_str_equal (on_overflow, "fallback"))
    self->on_overflow = OVERFLOW_FALLBACK;
  else
    return sluice_config_invalid (error, "on_overflow: must be reject, truncate or fallback");

  if (truncate != NULL && JSON_NODE_HOLDS_OBJECT (truncate))
    variable = sluice_json_get_string (json_node_get_object (truncate), "variable");
  if (self->on_overflow == OVERFLOW_TRUNCATE && (variable == NULL || *variable == '\0'))
    return sluice_config_invalid (error, "on_overflow: truncate needs the variable to cut: "
                                         "truncate: {variable: NAME}");
  if (self->on_overflow != OVERFLOW_TRUNCATE && truncate != NULL)
    return sluice_config_invalid (error, "truncate: only with on_overflow: truncate");
  self->variable = g_strdup (variable);

  self->safety_factor = SLUICE_TOKEN_SAFETY_FACTOR;
  if (factor != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (factor) || !isfinite (json_node_get_double (factor)) ||
          json_node_get_double (factor) < 1 || json_node_get_double (factor) > 4)
        return sluice_config_invalid (error, "safety_factor: must be a number from 1 to 4");
      self->safety_factor = json_node_get_double (factor);
    }

  if (model != NULL && *model != '\0')
    {
      JsonObject *first = targets->len > 0 ? g_ptr_array_index (targets, 0) : NULL;

      if (self->on_overflow == OVERFLOW_FALLBACK)
        return sluice_config_invalid (error, "on_overflow: fallback checks the call stage's targets: "
                                             "leave 'model' out");
      if (provider == NULL)
        provider = sluice_json_get_string (first, "provider");
      /* The call's max_tokens reserves the output only for the model it goes with. */
      if (g_strcmp0 (sluice_json_get_string (first, "model"), model) != 0)
        first = NULL;
      return add_checked (self, provider, model, first, window, reserve, error);
    }

  if (targets->len == 0)
    return sluice_config_invalid (error, "no model to check for: give 'model', "
                                         "or put a call stage with a target in the pipeline");
  for (guint i = 0; i < targets->len; i++)
    {
      JsonObject *target = g_ptr_array_index (targets, i);
      const char *target_model = sluice_json_get_string (target, "model");

      if (target_model == NULL || *target_model == '\0')
        return sluice_config_invalid (error, "the call stage's target %u has no model to check for", i);
      if (!add_checked (self, sluice_json_get_string (target, "provider"), target_model, target,
                        window, reserve, error))
        return FALSE;
      /* Only fallback looks past the first target: the call starts there. */
      if (self->on_overflow != OVERFLOW_FALLBACK)
        break;
    }
  return TRUE;
}

static void
sluice_context_check_stage_finalize (GObject *object)
{
  SluiceContextCheckStage *self = SLUICE_CONTEXT_CHECK_STAGE (object);

  g_ptr_array_unref (self->checked);
  g_free (self->variable);

  G_OBJECT_CLASS (sluice_context_check_stage_parent_class)->finalize (object);
}

static void
sluice_context_check_stage_class_init (SluiceContextCheckStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_context_check_stage_finalize;
}

static void
sluice_context_check_stage_init (SluiceContextCheckStage *self)
{
  self->checked = g_ptr_array_new_with_free_func ((GDestroyNotify) checked_free);
}

static void
sluice_context_check_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_context_check_stage_configure;
  iface->process = sluice_context_check_stage_process;
}
