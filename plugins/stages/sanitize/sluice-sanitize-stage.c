/* sluice-sanitize-stage.c — cleans the request's input values before
 * anything renders them: valid UTF-8 in NFC without control characters,
 * bounded in size, personal data and secrets replaced by placeholders
 * that are stable within the request, deny rules enforced and
 * prompt-injection markers flagged or refused.
 *
 * The input itself is left as it came (validate-input checks what the
 * user sent); the stage rewrites the template variables, and the
 * messages a batch line brought, which are what assemble and call use.
 * Counts go into the context's annotations (`redactions`,
 * `injection_suspected`), which the log stage records; original values
 * stay only in the request's placeholder table (on the context under
 * SLUICE_SANITIZE_PLACEHOLDERS_KEY), which nothing logs or records, for
 * `restore` and for any later stage that puts them back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sanitize-stage.h"
#include "sluice-sanitize-private.h"
#include "sluice-schema-private.h"

#include <string.h>

#define DEFAULT_MAX_VALUE_BYTES   (G_GINT64_CONSTANT (1) << 20)
#define DEFAULT_MAX_REQUEST_BYTES (G_GINT64_CONSTANT (8) << 20)
/* A request with more text than this is sanitized on a worker thread
 * (about 10 ms of work): the main loop goes on serving every other
 * request meanwhile. Smaller ones are done at once. */
#define THREAD_AT_BYTES           (256 * 1024)

typedef enum {
  INJECTION_IGNORE,
  INJECTION_FLAG,
  INJECTION_REFUSE,
} InjectionMode;

struct _SluiceSanitizeStage
{
  GObject        parent_instance;

  GPtrArray     *fields;          /* JSON Pointers (char*); NULL: every string */
  gboolean       drop_invalid;
  gint64         max_value;
  gint64         max_request;
  gboolean       truncate;
  gboolean       restore;
  InjectionMode  on_injection;
  GPtrArray     *redact;          /* SluiceSanitizeRule*, in order of preference */
  GPtrArray     *deny;            /* SluiceSanitizeRule* */
  GPtrArray     *injection;       /* SluiceSanitizeRule* */
};

static void sluice_sanitize_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceSanitizeStage, sluice_sanitize_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_sanitize_stage_iface_init))

/* ---- configuration ------------------------------------------------------- */

/* "a.b.0" or "/a/b/0" as a JSON Pointer. */
static char *
field_to_pointer (const char *field)
{
  g_auto(GStrv) parts = NULL;
  char *pointer;

  if (*field == '/' || *field == '\0')
    return g_strdup (field);
  parts = g_strsplit (field, ".", -1);
  pointer = g_strdup ("");
  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *longer = sluice_json_pointer_append (pointer, parts[i]);

      g_free (pointer);
      pointer = longer;
    }
  return pointer;
}

static gboolean
add_patterns (GPtrArray   *rules,
              JsonObject  *config,
              const char  *member,
              const char  *name_member,
              GError     **error)
{
  JsonNode *node = json_object_get_member (config, member);
  JsonArray *items;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return TRUE;
  items = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      JsonObject *item = json_array_get_object_element (items, i);
      const char *name = sluice_json_get_string (item, name_member);
      const char *pattern = sluice_json_get_string (item, "pattern");
      gboolean caseless = json_object_get_boolean_member_with_default (item, "ignore_case", FALSE);
      g_autoptr(GError) local = NULL;
      g_autofree char *lower = g_ascii_strdown (name, -1);
      SluiceSanitizeRule *rule;

      /* A custom kind is counted under its label in lower case. */
      rule = sluice_sanitize_rule_new_pattern (g_str_equal (name_member, "label") ? lower : name,
                                               g_str_equal (name_member, "label") ? name : NULL,
                                               pattern, caseless, &local);
      if (rule == NULL)
        return sluice_config_invalid (error, "%s[%u] '%s': pattern: %s", member, i, name, local->message);
      g_ptr_array_add (rules, rule);
    }
  return TRUE;
}

static gboolean
sluice_sanitize_stage_configure (SluiceStage     *stage,
                                 SluicePipeline  *pipeline,
                                 JsonObject      *config,
                                 GError         **error)
{
  SluiceSanitizeStage *self = SLUICE_SANITIZE_STAGE (stage);
  JsonObject *redact = NULL, *max_bytes = NULL;
  const char *mode;
  JsonNode *node;

  if ((node = json_object_get_member (config, "fields")) != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *fields = json_node_get_array (node);

      self->fields = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < json_array_get_length (fields); i++)
        {
          const char *field = json_array_get_string_element (fields, i);
          g_autoptr(GError) missing = NULL;

          /* a misspelt field would leave the real one unredacted */
          if (!sluice_pipeline_check_input_path (pipeline, field, &missing))
            return sluice_config_invalid (error, "fields: %s", missing->message);
          g_ptr_array_add (self->fields, field_to_pointer (field));
        }
    }

  self->drop_invalid = g_strcmp0 (sluice_json_get_string (config, "invalid_utf8"), "drop") == 0;
  if ((node = json_object_get_member (config, "max_bytes")) != NULL && JSON_NODE_HOLDS_OBJECT (node))
    max_bytes = json_node_get_object (node);
  self->max_value = sluice_json_get_int (max_bytes, "value", DEFAULT_MAX_VALUE_BYTES);
  self->max_request = sluice_json_get_int (max_bytes, "request", DEFAULT_MAX_REQUEST_BYTES);
  self->truncate = g_strcmp0 (sluice_json_get_string (config, "oversize"), "truncate") == 0;
  self->restore = json_object_get_boolean_member_with_default (config, "restore", FALSE);

  mode = sluice_json_get_string (config, "on_injection");
  self->on_injection = g_strcmp0 (mode, "refuse") == 0 ? INJECTION_REFUSE
                     : g_strcmp0 (mode, "ignore") == 0 ? INJECTION_IGNORE
                     : INJECTION_FLAG;
  if (self->on_injection != INJECTION_IGNORE)
    self->injection = sluice_sanitize_injection_rules_new ();

  if ((node = json_object_get_member (config, "redact")) != NULL && JSON_NODE_HOLDS_OBJECT (node))
    redact = json_node_get_object (node);
  for (guint i = 0; sluice_sanitize_builtin_kinds[i] != NULL; i++)
    if (redact == NULL ||
        json_object_get_boolean_member_with_default (redact, sluice_sanitize_builtin_kinds[i], TRUE))
      g_ptr_array_add (self->redact, sluice_sanitize_rule_new_builtin (sluice_sanitize_builtin_kinds[i]));
  if (redact != NULL && !add_patterns (self->redact, redact, "custom", "label", error))
    return FALSE;
  return add_patterns (self->deny, config, "deny", "name", error);
}

/* ---- one value ----------------------------------------------------------- */

static gboolean
oversize (SluiceSanitizeStage  *self,
          const char           *path,
          gsize                 length,
          gsize                 limit,
          GError              **error)
{
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
               "input value at %s is %" G_GSIZE_FORMAT " bytes, over the sanitize stage's "
               "max_bytes.value of %" G_GSIZE_FORMAT, path, length, limit);
  return FALSE;
}

/* Cleans, checks and redacts one string in place. @limit is what this
 * value may keep (truncate) or hold (reject). */
static gboolean
sanitize_value (SluiceSanitizeStage *self,
                SluiceSanitizeState *state,
                SluiceSanitizeLeaf  *leaf,
                gsize                limit,
                SluiceSanitizeTally *tally,
                GError             **error)
{
  const char *raw = json_node_get_string (leaf->node);
  gsize raw_length = strlen (raw), length;
  SluiceSanitizeCleaned cleaned;
  g_autofree char *text = NULL;
  g_autofree char *redacted = NULL;
  const char *gave_up = NULL;

  if (self->truncate && raw_length > limit)
    {
      raw_length = sluice_sanitize_cut (raw, raw_length, limit);
      tally->truncated++;
    }
  text = sluice_sanitize_clean (raw, raw_length, self->drop_invalid, &length, &cleaned);
  tally->controls += cleaned.controls;
  tally->invalid_bytes += cleaned.invalid_bytes;
  /* U+FFFD takes three bytes for one, and NFC may lengthen a little */
  if (length > limit)
    {
      if (!self->truncate)
        return oversize (self, leaf->path, length, limit, error);
      length = sluice_sanitize_cut (text, length, limit);
      text[length] = '\0';
    }

  for (guint i = 0; i < self->deny->len; i++)
    {
      SluiceSanitizeRule *rule = g_ptr_array_index (self->deny, i);
      gsize start, end;

      /* a rule that gives up refuses too: a crafted input must not
       * slip past a deny rule by making it backtrack */
      if (sluice_sanitize_rule_find (rule, text, length, 0, &start, &end) != SLUICE_REGEX_NO_MATCH)
        {
          /* the rule and where, never what matched */
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "input refused by the sanitize stage's deny rule '%s' (at %s)",
                       rule->name, leaf->path);
          return FALSE;
        }
    }

  /* a marker that gives up counts as found */
  for (guint i = 0; self->injection != NULL && i < self->injection->len; i++)
    {
      SluiceSanitizeRule *rule = g_ptr_array_index (self->injection, i);
      gsize start, end;

      if (!g_ptr_array_find_with_equal_func (state->injection, rule->name, g_str_equal, NULL) &&
          sluice_sanitize_rule_find (rule, text, length, 0, &start, &end) != SLUICE_REGEX_NO_MATCH)
        g_ptr_array_add (state->injection, g_strdup (rule->name));
    }

  redacted = sluice_sanitize_redact (self->redact, state, text, length, &tally->redacted, &gave_up);
  if (gave_up != NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "input refused: the sanitize stage's '%s' pattern could not finish on the value "
                   "at %s (it backtracks too much)", gave_up, leaf->path);
      return FALSE;
    }
  json_node_set_string (leaf->node, redacted != NULL ? redacted : text);
  return TRUE;
}

/* ---- the request --------------------------------------------------------- */

static int
compare_names (const void *a,
               const void *b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
note_annotations (SluiceSanitizeStage *self,
                  SluiceContext       *context,
                  SluiceSanitizeState *state)
{
  if (g_hash_table_size (state->counts) > 0)
    {
      g_autoptr(JsonObject) counts = json_object_new ();
      g_autoptr(JsonNode) node = NULL;
      g_autofree const char **names = (const char **) g_hash_table_get_keys_as_array (state->counts, NULL);
      guint n = g_hash_table_size (state->counts);

      qsort (names, n, sizeof *names, compare_names);
      for (guint i = 0; i < n; i++)
        json_object_set_int_member (counts, names[i],
                                    GPOINTER_TO_UINT (g_hash_table_lookup (state->counts, names[i])));
      node = json_node_init_object (json_node_alloc (), counts);
      sluice_context_set_annotation (context, "redactions", node);
    }
  if (state->injection->len > 0)
    {
      g_autoptr(JsonArray) rules = json_array_new ();
      g_autoptr(JsonNode) node = NULL;

      for (guint i = 0; i < state->injection->len; i++)
        json_array_add_string_element (rules, g_ptr_array_index (state->injection, i));
      node = json_node_init_array (json_node_alloc (), rules);
      sluice_context_set_annotation (context, "injection_suspected", node);
    }
}

static SluiceVerdict
sluice_sanitize_stage_process (SluiceStage    *stage,
                               SluiceContext  *context,
                               GError        **error)
{
  SluiceSanitizeStage *self = SLUICE_SANITIZE_STAGE (stage);
  SluiceSanitizeState *state = sluice_sanitize_get_state (context);
  g_autoptr(GArray) leaves = sluice_sanitize_collect (context, self->fields);
  SluiceSanitizeTally tally = { 0, };
  gsize total = 0, budget;

  for (guint i = 0; i < leaves->len; i++)
    {
      SluiceSanitizeLeaf *leaf = &g_array_index (leaves, SluiceSanitizeLeaf, i);
      gsize length = strlen (json_node_get_string (leaf->node));

      if (!self->truncate && length > (gsize) self->max_value)
        {
          oversize (self, leaf->path, length, (gsize) self->max_value, error);
          return SLUICE_VERDICT_FAIL;
        }
      total += length;
    }
  if (!self->truncate && total > (gsize) self->max_request)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "the input's strings hold %" G_GSIZE_FORMAT " bytes, over the sanitize stage's "
                   "max_bytes.request of %" G_GINT64_FORMAT, total, self->max_request);
      return SLUICE_VERDICT_FAIL;
    }

  budget = (gsize) self->max_request;
  for (guint i = 0; i < leaves->len; i++)
    {
      SluiceSanitizeLeaf *leaf = &g_array_index (leaves, SluiceSanitizeLeaf, i);
      gsize limit = MIN ((gsize) self->max_value, self->truncate ? budget : G_MAXSIZE);

      if (!sanitize_value (self, state, leaf, limit, &tally, error))
        return SLUICE_VERDICT_FAIL;
      budget -= MIN (budget, strlen (json_node_get_string (leaf->node)));
    }

  note_annotations (self, context, state);
  g_debug ("%u values: %u redacted, %u invisible or control characters removed, "
           "%u bytes not UTF-8, %u truncated",
           leaves->len, tally.redacted, tally.controls, tally.invalid_bytes, tally.truncated);

  if (self->on_injection == INJECTION_REFUSE && state->injection->len > 0)
    {
      g_autofree char *rules = NULL;

      g_ptr_array_add (state->injection, NULL);
      rules = g_strjoinv (", ", (char **) state->injection->pdata);
      g_ptr_array_remove_index (state->injection, state->injection->len - 1);
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "input refused: it looks like a prompt injection (%s %s; on_injection: refuse)",
                   state->injection->len > 1 ? "rules" : "rule", rules);
      return SLUICE_VERDICT_FAIL;
    }
  return SLUICE_VERDICT_CONTINUE;
}

/* The bytes of text under @node, counted until @stop_at is passed. */
static gsize
text_bytes (JsonNode *node,
            gsize     stop_at)
{
  gsize total = 0;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (total <= stop_at && json_object_iter_next (&iter, &name, &member))
        total += text_bytes (member, stop_at - total);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; total <= stop_at && i < json_array_get_length (array); i++)
        total += text_bytes (json_array_get_element (array, i), stop_at - total);
    }
  else if (json_node_get_value_type (node) == G_TYPE_STRING)
    total = strlen (json_node_get_string (node));
  return total;
}

static void
process_in_thread (GTask        *task,
                   gpointer      source,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  GError *error = NULL;
  SluiceVerdict verdict = sluice_sanitize_stage_process (source, task_data, &error);

  if (verdict == SLUICE_VERDICT_FAIL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, verdict);
}

/* Nothing else touches a request while one of its stages works on it,
 * so the worker thread may have it to itself. */
static void
sluice_sanitize_stage_process_async (SluiceStage         *stage,
                                     SluiceContext       *context,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stage, cancellable, callback, user_data);
  JsonArray *messages = sluice_context_get_messages (context);
  g_autoptr(JsonNode) variables = json_node_init_object (json_node_alloc (), sluice_context_get_variables (context));
  g_autoptr(JsonNode) wrapped = messages != NULL ? json_node_init_array (json_node_alloc (), messages) : NULL;
  gsize bytes = text_bytes (variables, THREAD_AT_BYTES);

  g_task_set_source_tag (task, sluice_sanitize_stage_process_async);
  g_task_set_task_data (task, g_object_ref (context), g_object_unref);
  if (wrapped != NULL && bytes <= THREAD_AT_BYTES)
    bytes += text_bytes (wrapped, THREAD_AT_BYTES - bytes);
  if (bytes > THREAD_AT_BYTES)
    g_task_run_in_thread (task, process_in_thread);
  else
    process_in_thread (task, stage, context, cancellable);
}

static void
sluice_sanitize_stage_complete_async (SluiceStage         *stage,
                                      SluiceContext       *context,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  SluiceSanitizeStage *self = SLUICE_SANITIZE_STAGE (stage);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  SluiceSanitizeState *state = g_object_get_data (G_OBJECT (context), SLUICE_SANITIZE_STATE_KEY);
  JsonNode *output = sluice_context_get_output (context);

  g_task_set_source_tag (task, sluice_sanitize_stage_complete_async);
  /* On the way out, after log has recorded the request: the caller gets
   * its own values back in the answer. */
  /* A dry run's output is the request as sent: it keeps the placeholders. */
  if (self->restore && state != NULL && output != NULL && sluice_context_get_error (context) == NULL &&
      !sluice_context_get_dry_run (context) &&
      g_hash_table_size (state->originals) > 0)
    {
      g_autoptr(JsonNode) restored = sluice_sanitize_restore (output, state->originals);

      sluice_context_set_output (context, restored);
    }
  g_task_return_boolean (task, TRUE);
}

static void
sluice_sanitize_stage_finalize (GObject *object)
{
  SluiceSanitizeStage *self = SLUICE_SANITIZE_STAGE (object);

  g_clear_pointer (&self->fields, g_ptr_array_unref);
  g_clear_pointer (&self->redact, g_ptr_array_unref);
  g_clear_pointer (&self->deny, g_ptr_array_unref);
  g_clear_pointer (&self->injection, g_ptr_array_unref);

  G_OBJECT_CLASS (sluice_sanitize_stage_parent_class)->finalize (object);
}

static void
sluice_sanitize_stage_class_init (SluiceSanitizeStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_sanitize_stage_finalize;
}

static void
sluice_sanitize_stage_init (SluiceSanitizeStage *self)
{
  self->redact = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_sanitize_rule_free);
  self->deny = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_sanitize_rule_free);
  self->max_value = DEFAULT_MAX_VALUE_BYTES;
  self->max_request = DEFAULT_MAX_REQUEST_BYTES;
}

static void
sluice_sanitize_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_sanitize_stage_configure;
  iface->process = sluice_sanitize_stage_process;
  iface->process_async = sluice_sanitize_stage_process_async;
  iface->complete_async = sluice_sanitize_stage_complete_async;
}
