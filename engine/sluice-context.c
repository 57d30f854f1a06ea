/* sluice-context.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-context"

#include "sluice.h"

struct _SluiceContext
{
  GObject         parent_instance;

  char           *request_id;
  gint64          started_ms;
  JsonNode       *input;
  JsonObject     *variables;
  JsonArray      *messages;
  gint64          counted_tokens;   /* -1: the messages are not counted */
  gboolean        counted_estimated;
  char           *counted_model;
  JsonObject     *preflight;
  JsonObject     *target;
  SluiceResponse *response;
  JsonNode       *output;
  JsonArray      *attempts;
  JsonObject     *timings;
  JsonObject     *labels;
  JsonObject     *annotations;
  char           *rerun_stage;
  guint           n_reruns;
  JsonObject     *corrections;   /* stage name → corrections it asked for */
  SluiceCompliance compliance;
  gboolean         answer_repaired;
  GError         *error;
  char           *error_stage;
  JsonObject     *error_details;
};

G_DEFINE_FINAL_TYPE (SluiceContext, sluice_context, G_TYPE_OBJECT)

static void
sluice_context_finalize (GObject *object)
{
  SluiceContext *self = SLUICE_CONTEXT (object);

  g_free (self->request_id);
  g_clear_pointer (&self->input, json_node_unref);
  g_clear_pointer (&self->variables, json_object_unref);
  g_clear_pointer (&self->messages, json_array_unref);
  g_free (self->counted_model);
  g_clear_pointer (&self->preflight, json_object_unref);
  g_clear_pointer (&self->target, json_object_unref);
  g_clear_object (&self->response);
  g_clear_pointer (&self->output, json_node_unref);
  g_clear_pointer (&self->attempts, json_array_unref);
  g_clear_pointer (&self->timings, json_object_unref);
  g_clear_pointer (&self->labels, json_object_unref);
  g_clear_pointer (&self->annotations, json_object_unref);
  g_free (self->rerun_stage);
  g_clear_pointer (&self->corrections, json_object_unref);
  g_clear_error (&self->error);
  g_free (self->error_stage);
  g_clear_pointer (&self->error_details, json_object_unref);

  G_OBJECT_CLASS (sluice_context_parent_class)->finalize (object);
}

static void
sluice_context_class_init (SluiceContextClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_context_finalize;
}

static void
sluice_context_init (SluiceContext *self)
{
  self->request_id = g_strdup_printf ("req_%08x%08x%08x",
                                      g_random_int (), g_random_int (), g_random_int ());
  self->started_ms = sluice_monotonic_ms ();
  self->attempts = json_array_new ();
  self->timings = json_object_new ();
  self->labels = json_object_new ();
  self->annotations = json_object_new ();
  self->variables = json_object_new ();
  self->corrections = json_object_new ();
  self->preflight = json_object_new ();
  self->counted_tokens = -1;
}

SluiceContext *
sluice_context_new (JsonNode *input)
{
  SluiceContext *self = g_object_new (SLUICE_TYPE_CONTEXT, NULL);

  self->input = input != NULL ? json_node_copy (input) : json_node_new (JSON_NODE_NULL);
  if (JSON_NODE_HOLDS_OBJECT (self->input))
    {
      JsonObject *object = json_node_get_object (self->input);
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      /* in the input's order: stages that walk the variables (sanitize)
       * then give the same result every time */
      json_object_iter_init_ordered (&iter, object);
      while (json_object_iter_next_ordered (&iter, &name, &value))
        json_object_set_member (self->variables, name, json_node_ref (value));
    }

  return self;
}

const char *
sluice_context_get_request_id (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->request_id;
}

JsonNode *
sluice_context_get_input (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->input;
}

JsonObject *
sluice_context_get_variables (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->variables;
}

JsonArray *
sluice_context_get_messages (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->messages;
}

void
sluice_context_set_messages (SluiceContext *self,
                             JsonArray     *messages)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  if (messages != NULL)
    json_array_ref (messages);
  g_clear_pointer (&self->messages, json_array_unref);
  self->messages = messages;
  /* A count of the messages that were is no count of these. */
  self->counted_tokens = -1;
  g_clear_pointer (&self->counted_model, g_free);
}

void
sluice_context_set_counted_prompt_tokens (SluiceContext *self,
                                          gint64         tokens,
                                          gboolean       estimated,
                                          const char    *model)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  self->counted_tokens = MAX (tokens, -1);
  self->counted_estimated = estimated;
  g_free (self->counted_model);
  self->counted_model = tokens >= 0 ? g_strdup (model) : NULL;
}

gint64
sluice_context_get_counted_prompt_tokens (SluiceContext  *self,
                                          gboolean       *estimated,
                                          const char    **model)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), -1);
  if (estimated != NULL)
    *estimated = self->counted_tokens >= 0 && self->counted_estimated;
  if (model != NULL)
    *model = self->counted_model;
  return self->counted_tokens;
}

JsonObject *
sluice_context_get_preflight (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->preflight;
}

JsonObject *
sluice_context_get_target (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->target;
}

void
sluice_context_set_target (SluiceContext *self,
                           JsonObject    *target)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  if (target != NULL)
    json_object_ref (target);
  g_clear_pointer (&self->target, json_object_unref);
  self->target = target;
}

SluiceResponse *
sluice_context_get_response (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->response;
}

void
sluice_context_set_response (SluiceContext  *self,
                             SluiceResponse *response)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_set_object (&self->response, response);
}

JsonNode *
sluice_context_get_output (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->output;
}

void
sluice_context_set_output (SluiceContext *self,
                           JsonNode      *output)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_clear_pointer (&self->output, json_node_unref);
  if (output != NULL)
    self->output = json_node_copy (output);
}

void
sluice_context_add_attempt (SluiceContext *self,
                            JsonObject    *attempt)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_return_if_fail (attempt != NULL);
  json_array_add_object_element (self->attempts, json_object_ref (attempt));
}

JsonArray *
sluice_context_get_attempts (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->attempts;
}

static gint64
sum_attempts (SluiceContext *self,
              const char    *member)
{
  guint n = json_array_get_length (self->attempts);
  gint64 total = 0;

  for (guint i = 0; i < n; i++)
    {
      gint64 v = sluice_json_get_int (json_array_get_object_element (self->attempts, i), member, 0);
      if (v > 0)
        total += v;
    }
  return total;
}

gint64
sluice_context_get_prompt_tokens (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), 0);
  return sum_attempts (self, "prompt_tokens");
}

gint64
sluice_context_get_completion_tokens (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), 0);
  return sum_attempts (self, "completion_tokens");
}

gdouble
sluice_context_get_cost (SluiceContext *self)
{
  guint n;
  gdouble total = 0;

  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), -1);

  n = json_array_get_length (self->attempts);
  for (guint i = 0; i < n; i++)
    {
      JsonObject *attempt = json_array_get_object_element (self->attempts, i);
      JsonNode *cost = json_object_get_member (attempt, "cost_usd");

      if (cost == NULL || !JSON_NODE_HOLDS_VALUE (cost))
        return -1;
      total += json_node_get_double (cost);
    }
  return total;
}

gint64
sluice_context_get_elapsed_ms (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), 0);
  return sluice_monotonic_ms () - self->started_ms;
}

void
sluice_context_add_timing (SluiceContext *self,
                           const char    *name,
                           gint64         ms)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  /* A stage that runs again (re-run) accumulates its time. */
  ms += sluice_json_get_int (self->timings, name, 0);
  json_object_set_int_member (self->timings, name, ms);
}

JsonObject *
sluice_context_get_timings (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->timings;
}

void
sluice_context_set_label (SluiceContext *self,
                          const char    *key,
                          const char    *value)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_return_if_fail (key != NULL);
  if (value == NULL)
    json_object_remove_member (self->labels, key);
  else
    json_object_set_string_member (self->labels, key, value);
}

const char *
sluice_context_get_label (SluiceContext *self,
                          const char    *key)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return sluice_json_get_string (self->labels, key);
}

JsonObject *
sluice_context_get_labels (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->labels;
}

void
sluice_context_set_annotation (SluiceContext *self,
                               const char    *name,
                               JsonNode      *value)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_return_if_fail (name != NULL);
  if (value == NULL)
    json_object_remove_member (self->annotations, name);
  else
    json_object_set_member (self->annotations, name, json_node_copy (value));
}

JsonObject *
sluice_context_get_annotations (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->annotations;
}

void
sluice_context_request_rerun (SluiceContext *self,
                              const char    *stage)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_free (self->rerun_stage);
  self->rerun_stage = g_strdup (stage);
}

void
sluice_context_ask_for_correction (SluiceContext *self,
                                   const char    *feedback)
{
  sluice_context_ask_for_correction_by (self, "", feedback);
}

void
sluice_context_ask_for_correction_by (SluiceContext *self,
                                      const char    *stage,
                                      const char    *feedback)
{
  g_autoptr(JsonArray) messages = json_array_new ();
  JsonObject *message;

  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_return_if_fail (stage != NULL);
  g_return_if_fail (feedback != NULL);

  json_object_set_int_member (self->corrections, stage, sluice_json_get_int (self->corrections, stage, 0) + 1);
  /* Until an answer passes, the request's answer broke the format. */
  self->compliance = SLUICE_COMPLIANCE_INVALID;

  for (guint i = 0; self->messages != NULL && i < json_array_get_length (self->messages); i++)
    json_array_add_element (messages, json_node_copy (json_array_get_element (self->messages, i)));

  message = json_object_new ();
  json_object_set_string_member (message, "role", "assistant");
  json_object_set_string_member (message, "content",
                                 self->response != NULL && sluice_response_get_text (self->response) != NULL
                                   ? sluice_response_get_text (self->response) : "");
  json_array_add_object_element (messages, message);

  message = json_object_new ();
  json_object_set_string_member (message, "role", "user");
  json_object_set_string_member (message, "content", feedback);
  json_array_add_object_element (messages, message);

  sluice_context_set_messages (self, messages);
  sluice_context_request_rerun (self, "call");
}

guint
sluice_context_get_n_corrections (SluiceContext *self,
                                  const char    *stage)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *count;
  gint64 total = 0;

  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), 0);
  if (stage != NULL)
    return (guint) sluice_json_get_int (self->corrections, stage, 0);
  json_object_iter_init (&iter, self->corrections);
  while (json_object_iter_next (&iter, &name, &count))
    total += json_node_get_int (count);
  return (guint) total;
}

const char *
sluice_compliance_to_string (SluiceCompliance compliance)
{
  switch (compliance)
    {
    case SLUICE_COMPLIANCE_VALID_FIRST_TRY:
      return "valid_first_try";
    case SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION:
      return "valid_after_correction";
    case SLUICE_COMPLIANCE_VALID_AFTER_REPAIR:
      return "valid_after_repair";
    case SLUICE_COMPLIANCE_INVALID:
      return "invalid";
    case SLUICE_COMPLIANCE_UNCHECKED:
    default:
      return NULL;
    }
}

void
sluice_context_record_format_check (SluiceContext *self,
                                    gboolean       valid)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  if (!valid)
    self->compliance = SLUICE_COMPLIANCE_INVALID;
  else if (sluice_context_get_n_corrections (self, NULL) > 0)
    self->compliance = SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION;
  else if (self->answer_repaired)
    self->compliance = SLUICE_COMPLIANCE_VALID_AFTER_REPAIR;
  else
    self->compliance = SLUICE_COMPLIANCE_VALID_FIRST_TRY;
}

void
sluice_context_record_repaired_answer (SluiceContext *self,
                                       gboolean       repaired)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  self->answer_repaired = repaired;
}

SluiceCompliance
sluice_context_get_compliance (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), SLUICE_COMPLIANCE_UNCHECKED);
  return self->compliance;
}

const char *
sluice_context_get_answer_target (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);

  for (guint i = json_array_get_length (self->attempts); i > 0; i--)
    {
      JsonObject *attempt = json_array_get_object_element (self->attempts, i - 1);

      if (attempt != NULL && g_strcmp0 (sluice_json_get_string (attempt, "outcome"), "ok") == 0)
        return sluice_json_get_string (attempt, "target");
    }
  return NULL;
}

/* Called by the runner when a request fails: no answer was kept, so the
 * tokens of those it got (rejected by parse or validate) were wasted. */
void
_sluice_context_waste_answers (SluiceContext *self)
{
  for (guint i = 0; i < json_array_get_length (self->attempts); i++)
    {
      JsonObject *attempt = json_array_get_object_element (self->attempts, i);

      if (attempt != NULL && g_strcmp0 (sluice_json_get_string (attempt, "outcome"), "ok") == 0)
        json_object_set_boolean_member (attempt, "wasted", TRUE);
    }
}

const char *
sluice_context_get_rerun_stage (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->rerun_stage;
}

guint
sluice_context_get_n_reruns (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), 0);
  return self->n_reruns;
}

/* Called by the runner when it honours a re-run. */
void
_sluice_context_count_rerun (SluiceContext *self)
{
  self->n_reruns++;
  g_clear_pointer (&self->rerun_stage, g_free);
}

const GError *
sluice_context_get_error (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->error;
}

void
sluice_context_set_error (SluiceContext *self,
                          const GError  *error,
                          const char    *stage)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_clear_error (&self->error);
  g_clear_pointer (&self->error_stage, g_free);
  if (error == NULL)
    g_clear_pointer (&self->error_details, json_object_unref);
  else
    {
      self->error = g_error_copy (error);
      self->error_stage = g_strdup (stage);
    }
}

void
sluice_context_set_error_details (SluiceContext *self,
                                  JsonObject    *details)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  if (details != NULL)
    json_object_ref (details);
  g_clear_pointer (&self->error_details, json_object_unref);
  self->error_details = details;
}

JsonObject *
sluice_context_get_error_details (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->error_details;
}

const char *
sluice_context_get_error_stage (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return self->error_stage;
}

JsonNode *
sluice_context_dup_result (SluiceContext *self)
{
  g_autoptr(JsonObject) error = NULL;
  g_autoptr(JsonObject) wrapper = NULL;
  JsonNode *node;

  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);

  if (self->error == NULL)
    return self->output != NULL ? json_node_copy (self->output)
                                : json_node_new (JSON_NODE_NULL);

  error = json_object_new ();
  json_object_set_string_member (error, "kind", sluice_error_kind_from_error (self->error));
  json_object_set_string_member (error, "message", self->error->message);
  if (self->error_stage != NULL)
    json_object_set_string_member (error, "stage", self->error_stage);
  if (self->error_details != NULL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      json_object_iter_init (&iter, self->error_details);
      while (json_object_iter_next (&iter, &name, &value))
        if (!json_object_has_member (error, name))
          json_object_set_member (error, name, json_node_copy (value));
    }
  json_object_set_array_member (error, "attempts", json_array_ref (self->attempts));

  wrapper = json_object_new ();
  json_object_set_object_member (wrapper, "error", g_steal_pointer (&error));
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, wrapper);
  return node;
}

/* Kept as object data: a flag few requests carry. */
void
sluice_context_set_dry_run (SluiceContext *self,
                            gboolean       dry_run)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_object_set_data (G_OBJECT (self), "sluice-dry-run", GINT_TO_POINTER (dry_run ? 1 : 0));
}

gboolean
sluice_context_get_dry_run (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), FALSE);
  return GPOINTER_TO_INT (g_object_get_data (G_OBJECT (self), "sluice-dry-run")) != 0;
}

/* Kept as object data too: only pipelines with a format stage set it. */
void
sluice_context_set_formatted (SluiceContext *self,
                              JsonNode      *formatted)
{
  g_return_if_fail (SLUICE_IS_CONTEXT (self));
  g_object_set_data_full (G_OBJECT (self), "sluice-formatted",
                          formatted != NULL ? json_node_copy (formatted) : NULL,
                          (GDestroyNotify) json_node_unref);
}

JsonNode *
sluice_context_get_formatted (SluiceContext *self)
{
  g_return_val_if_fail (SLUICE_IS_CONTEXT (self), NULL);
  return g_object_get_data (G_OBJECT (self), "sluice-formatted");
}
