/* sluice-log-stage.c — hands usage records to the cost sinks.
 *
 * On the way out (complete), whatever the outcome: one `attempt` record
 * per provider attempt and one `request` record, so a request that never
 * reached a provider is accounted for too.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-log-stage.h"

struct _SluiceLogStage
{
  GObject    parent_instance;

  GPtrArray *sinks;    /* SluiceCostSink* */
};

static void sluice_log_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceLogStage, sluice_log_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_log_stage_iface_init))

static gboolean
add_sink (SluiceLogStage  *self,
          SluiceEngine    *engine,
          const char      *name,
          JsonObject      *config,
          GError         **error)
{
  g_autoptr(GObject) sink = NULL;
  g_autoptr(JsonObject) empty = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (config != NULL)
    node = json_node_init_object (json_node_alloc (), config);
  if (!sluice_engine_check_config (engine, "sink", name, node, error))
    return FALSE;

  sink = sluice_engine_create (engine, "sink", name, error);
  if (sink == NULL)
    return FALSE;
  if (config == NULL)
    config = empty = json_object_new ();
  if (!sluice_cost_sink_configure (SLUICE_COST_SINK (sink), config, error))
    {
      g_prefix_error (error, "sink '%s': ", name);
      return FALSE;
    }
  g_ptr_array_add (self->sinks, g_steal_pointer (&sink));
  return TRUE;
}

/* Breaker transitions, budget refusals: recorded as they happen. */
static void
on_pipeline_event (SluicePipeline *pipeline,
                   JsonObject     *record,
                   SluiceLogStage *self)
{
  for (guint s = 0; s < self->sinks->len; s++)
    sluice_cost_sink_record (g_ptr_array_index (self->sinks, s), record);
}

static gboolean
sluice_log_stage_configure (SluiceStage     *stage,
                            SluicePipeline  *pipeline,
                            JsonObject      *config,
                            GError         **error)
{
  SluiceLogStage *self = SLUICE_LOG_STAGE (stage);
  SluiceEngine *engine = sluice_pipeline_get_engine (pipeline);
  JsonNode *node = json_object_get_member (config, "sinks");
  JsonArray *sinks;

  if (SLUICE_IS_PIPELINE (pipeline))
    g_signal_connect_object (pipeline, "event", G_CALLBACK (on_pipeline_event), self, 0);
  if (node == NULL)
    return add_sink (self, engine, "sqlite", NULL, error);

  sinks = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (sinks); i++)
    {
      JsonNode *item = json_array_get_element (sinks, i);

      /* The same sink twice would record every attempt twice. */
      for (guint j = 0; j < i; j++)
        if (json_node_equal (item, json_array_get_element (sinks, j)))
          return sluice_config_invalid (error, "sinks[%u] repeats sinks[%u]: every record would be "
                                        "written twice", i, j);
      if (JSON_NODE_HOLDS_OBJECT (item))
        {
          JsonObject *object = json_node_get_object (item);
          g_autoptr(GList) names = json_object_get_members (object);
          JsonNode *sink_config = json_object_get_member (object, names->data);

          if (!add_sink (self, engine, names->data,
                         JSON_NODE_HOLDS_OBJECT (sink_config) ? json_node_get_object (sink_config) : NULL,
                         error))
            return FALSE;
        }
      else if (!add_sink (self, engine, json_node_get_string (item), NULL, error))
        return FALSE;
    }
  return TRUE;
}

static void
copy_member (JsonObject *to,
             JsonObject *from,
             const char *name)
{
  JsonNode *node = json_object_get_member (from, name);

  if (node != NULL)
    json_object_set_member (to, name, json_node_copy (node));
}

static JsonObject *
base_record (SluiceContext *context,
             const char    *type)
{
  JsonObject *record = json_object_new ();
  JsonObject *labels = sluice_context_get_labels (context);

  json_object_set_string_member (record, "type", type);
  json_object_set_string_member (record, "request_id", sluice_context_get_request_id (context));
  copy_member (record, labels, "pipeline");
  if (json_object_has_member (labels, "job"))
    json_object_set_string_member (record, "job_id", json_object_get_string_member (labels, "job"));
  json_object_set_object_member (record, "labels", json_object_ref (labels));
  return record;
}

static JsonObject *
request_record (SluiceContext *context)
{
  JsonObject *record = base_record (context, "request");
  const GError *error = sluice_context_get_error (context);
  gdouble cost = sluice_context_get_cost (context);
  g_autofree char *now = sluice_now_iso8601 ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_set_string_member (record, "time", now);
  json_object_set_string_member (record, "outcome", error == NULL ? "ok" : "error");
  if (error != NULL)
    {
      json_object_set_string_member (record, "error_kind", sluice_error_kind_from_error (error));
      if (sluice_context_get_error_stage (context) != NULL)
        json_object_set_string_member (record, "error_stage", sluice_context_get_error_stage (context));
    }
  json_object_set_int_member (record, "attempts",
                              json_array_get_length (sluice_context_get_attempts (context)));
  if (sluice_context_get_answer_target (context) != NULL)
    json_object_set_string_member (record, "target", sluice_context_get_answer_target (context));
  if (sluice_compliance_to_string (sluice_context_get_compliance (context)) != NULL)
    json_object_set_string_member (record, "compliance",
                                   sluice_compliance_to_string (sluice_context_get_compliance (context)));
  else
    json_object_set_null_member (record, "compliance");
  json_object_set_int_member (record, "prompt_tokens", sluice_context_get_prompt_tokens (context));
  json_object_set_int_member (record, "completion_tokens", sluice_context_get_completion_tokens (context));
  if (cost >= 0)
    json_object_set_double_member (record, "cost_usd", cost);
  else
    json_object_set_null_member (record, "cost_usd");
  json_object_set_int_member (record, "latency_ms", sluice_context_get_elapsed_ms (context));
  /* What stages noted (sanitize's redaction counts, say); a note never
   * replaces a member the record already has. */
  json_object_iter_init (&iter, sluice_context_get_annotations (context));
  while (json_object_iter_next (&iter, &name, &value))
    if (!json_object_has_member (record, name))
      json_object_set_member (record, name, json_node_copy (value));
  return record;
}

static void
sluice_log_stage_complete_async (SluiceStage         *stage,
                                 SluiceContext       *context,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  SluiceLogStage *self = SLUICE_LOG_STAGE (stage);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  JsonArray *attempts = sluice_context_get_attempts (context);
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  g_task_set_source_tag (task, sluice_log_stage_complete_async);
  if (sluice_context_get_dry_run (context))
    {
      g_task_return_boolean (task, TRUE);   /* nothing was sent or spent */
      return;
    }

  for (guint i = 0; i < json_array_get_length (attempts); i++)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i);
      JsonObject *record = base_record (context, "attempt");
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      json_object_iter_init (&iter, attempt);
      while (json_object_iter_next (&iter, &name, &value))
        json_object_set_member (record, name, json_node_copy (value));
      g_ptr_array_add (records, record);
    }
  g_ptr_array_add (records, request_record (context));

  /* Sinks buffer; recording never waits and never fails the request. */
  for (guint s = 0; s < self->sinks->len; s++)
    for (guint r = 0; r < records->len; r++)
      sluice_cost_sink_record (g_ptr_array_index (self->sinks, s), g_ptr_array_index (records, r));

  g_task_return_boolean (task, TRUE);
}

typedef struct
{
  guint   pending;
  GError *error;
} Flush;

static void
flush_free (Flush *flush)
{
  g_clear_error (&flush->error);
  g_free (flush);
}

static void
on_sink_flushed (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  Flush *flush = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!sluice_cost_sink_flush_finish (SLUICE_COST_SINK (source), result, &error) && flush->error == NULL)
    flush->error = g_steal_pointer (&error);

  if (--flush->pending > 0)
    return;
  if (flush->error != NULL)
    g_task_return_error (task, g_steal_pointer (&flush->error));
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
sluice_log_stage_flush_async (SluiceStage         *stage,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  SluiceLogStage *self = SLUICE_LOG_STAGE (stage);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Flush *flush = g_new0 (Flush, 1);

  g_task_set_source_tag (task, sluice_log_stage_flush_async);
  flush->pending = self->sinks->len;
  g_task_set_task_data (task, flush, (GDestroyNotify) flush_free);

  if (self->sinks->len == 0)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  for (guint i = 0; i < self->sinks->len; i++)
    sluice_cost_sink_flush_async (g_ptr_array_index (self->sinks, i), cancellable, on_sink_flushed, task);
}

static void
sluice_log_stage_finalize (GObject *object)
{
  SluiceLogStage *self = SLUICE_LOG_STAGE (object);

  g_clear_pointer (&self->sinks, g_ptr_array_unref);

  G_OBJECT_CLASS (sluice_log_stage_parent_class)->finalize (object);
}

static void
sluice_log_stage_class_init (SluiceLogStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_log_stage_finalize;
}

static void
sluice_log_stage_init (SluiceLogStage *self)
{
  self->sinks = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
sluice_log_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_log_stage_configure;
  iface->complete_async = sluice_log_stage_complete_async;
  iface->flush_async = sluice_log_stage_flush_async;
}
