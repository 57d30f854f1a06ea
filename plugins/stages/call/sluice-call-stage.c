/* sluice-call-stage.c — the LLM call: a time limit on every attempt,
 * retries with exponential backoff and jitter (Retry-After honoured), an
 * optional deadline over everything, and one attempt record per try.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-call-stage.h"

#define DEFAULT_TIMEOUT_MS   (60 * 1000)
#define DEFAULT_MAX_ATTEMPTS 3
#define MAX_ATTEMPTS_LIMIT   100
#define DEFAULT_BASE_MS      1000
#define DEFAULT_MAX_RETRY_AFTER_MS (2 * 60 * 1000)
#define DEFAULT_CAP_MS       (30 * 1000)
/* Near the deadline, the least time worth starting another attempt with
 * (or the attempt timeout, when that is shorter). */
#define MIN_ATTEMPT_MS       1000
/* A provider that has not returned this long after its attempt was
 * cancelled is given up on: the request must not hang on a plugin. */
#define ABANDON_GRACE_MS     2000

struct _SluiceCallStage
{
  GObject         parent_instance;

  SluiceProvider *provider;
  char           *provider_name;
  char           *model;
  JsonObject     *public_target;  /* the target without api_key and extra_headers */
  gint64          timeout_ms;
  gint64          deadline_ms;    /* 0: none */
  guint           max_attempts;
  gint64          base_ms;
  gint64          cap_ms;
  gint64          max_retry_after_ms;
  gboolean        full_jitter;
};

static void stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceCallStage, sluice_call_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, stage_iface_init))

static void
sluice_call_stage_finalize (GObject *object)
{
  SluiceCallStage *self = SLUICE_CALL_STAGE (object);

  g_clear_object (&self->provider);
  g_free (self->provider_name);
  g_free (self->model);
  g_clear_pointer (&self->public_target, json_object_unref);

  G_OBJECT_CLASS (sluice_call_stage_parent_class)->finalize (object);
}

static void
sluice_call_stage_class_init (SluiceCallStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_call_stage_finalize;
}

static void
sluice_call_stage_init (SluiceCallStage *self)
{
}

/* ---- configuration ------------------------------------------------------------ */

static JsonObject *
pick_target (JsonObject  *config,
             GError     **error)
{
  JsonNode *one = json_object_get_member (config, "target");
  JsonNode *many = json_object_get_member (config, "targets");

  if (one != NULL && many != NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "give 'target' or 'targets', not both");
      return NULL;
    }
  if (many != NULL)
    {
      guint n = JSON_NODE_HOLDS_ARRAY (many) ? json_array_get_length (json_node_get_array (many)) : 0;

      if (n > 1)
        {
          g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "only one target is supported until fallback policies land");
          return NULL;
        }
      if (n == 1)
        one = json_array_get_element (json_node_get_array (many), 0);
    }
  if (one == NULL || !JSON_NODE_HOLDS_OBJECT (one))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "a target is required, e.g. target: {provider: openai, "
                           "model: gpt-4o-mini, api_key: ${OPENAI_API_KEY}}");
      return NULL;
    }
  return json_node_get_object (one);
}

/* What the context may show of the target: other stages log it. */
static JsonObject *
copy_without_secrets (JsonObject *target)
{
  JsonObject *copy = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_iter_init (&iter, target);
  while (json_object_iter_next (&iter, &name, &value))
    if (!g_str_equal (name, "api_key") && !g_str_equal (name, "extra_headers"))
      json_object_set_member (copy, name, json_node_copy (value));
  return copy;
}

static gboolean
read_retry (SluiceCallStage  *self,
            JsonObject       *config,
            GError          **error)
{
  JsonNode *node = json_object_get_member (config, "retry");
  JsonObject *retry = NULL;
  const char *jitter;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "'retry' must be an object: {max_attempts, base, cap, jitter}");
          return FALSE;
        }
      retry = json_node_get_object (node);
    }

  node = retry != NULL ? json_object_get_member (retry, "max_attempts") : NULL;
  if (node != NULL &&
      (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
       json_node_get_int (node) < 1 || json_node_get_int (node) > MAX_ATTEMPTS_LIMIT))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "retry: 'max_attempts' must be an integer from 1 to %d", MAX_ATTEMPTS_LIMIT);
      return FALSE;
    }
  self->max_attempts = node != NULL ? (guint) json_node_get_int (node) : DEFAULT_MAX_ATTEMPTS;

  if (!sluice_config_get_duration (retry, "base", DEFAULT_BASE_MS, &self->base_ms, error) ||
      !sluice_config_get_duration (retry, "cap", DEFAULT_CAP_MS, &self->cap_ms, error) ||
      !sluice_config_get_duration (retry, "max_retry_after", DEFAULT_MAX_RETRY_AFTER_MS,
                                   &self->max_retry_after_ms, error))
    {
      g_prefix_error (error, "retry: ");
      return FALSE;
    }

  node = retry != NULL ? json_object_get_member (retry, "jitter") : NULL;
  jitter = node != NULL ? sluice_json_get_string (retry, "jitter") : "full";
  if (g_strcmp0 (jitter, "full") != 0 && g_strcmp0 (jitter, "none") != 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "retry: 'jitter' must be \"full\" or \"none\"");
      return FALSE;
    }
  self->full_jitter = g_str_equal (jitter, "full");
  return TRUE;
}

static gboolean
read_times (SluiceCallStage  *self,
            JsonObject       *config,
            JsonObject       *target,
            GError          **error)
{
  /* The target's own timeout wins over the stage's. */
  if (!sluice_config_get_duration (config, "timeout", DEFAULT_TIMEOUT_MS, &self->timeout_ms, error) ||
      !sluice_config_get_duration (target, "timeout", self->timeout_ms, &self->timeout_ms, error) ||
      !sluice_config_get_duration (config, "deadline", 0, &self->deadline_ms, error))
    return FALSE;

  if (self->timeout_ms <= 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'timeout' must be longer than 0");
      return FALSE;
    }
  if (json_object_has_member (config, "deadline") && self->deadline_ms <= 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "'deadline' must be longer than 0");
      return FALSE;
    }
  return TRUE;
}

/* Each provider declares the members its targets may have. */
static gboolean
check_target (SluicePipeline  *pipeline,
              const char      *provider,
              JsonObject      *target,
              GError         **error)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), target);

  SluiceEngine *engine = sluice_pipeline_get_engine (pipeline);

  if (!sluice_engine_check_config (engine, "provider", provider, node, error))
    {
      /* An unknown provider's message says all there is to say. */
      if (sluice_engine_has_plugin (engine, "provider", provider))
        g_prefix_error (error, "target of provider '%s': ", provider);
      return FALSE;
    }
  return TRUE;
}

/* What the provider is configured with: the target, plus the stage's
 * stream settings where the target has none, plus the pipeline's output
 * schema when the provider's native structured output is asked for. */
static JsonObject *
target_for_provider (SluicePipeline  *pipeline,
                     JsonObject      *config,
                     JsonObject      *target,
                     GError         **error)
{
  static const char * const inherited[] = { "stream", "idle_timeout" };
  JsonObject *copy = json_object_new ();
  JsonObjectIter iter;
  const char *name, *structured;
  JsonNode *value, *schema;

  json_object_iter_init (&iter, target);
  while (json_object_iter_next (&iter, &name, &value))
    json_object_set_member (copy, name, json_node_copy (value));
  for (guint i = 0; i < G_N_ELEMENTS (inherited); i++)
    if (!json_object_has_member (copy, inherited[i]) && json_object_has_member (config, inherited[i]))
      json_object_set_member (copy, inherited[i], json_node_copy (json_object_get_member (config, inherited[i])));

  structured = sluice_json_get_string (config, "structured_output");
  schema = sluice_pipeline_get_output_schema (pipeline);
  if (g_strcmp0 (structured, "native") == 0)
    {
      if (schema == NULL || !JSON_NODE_HOLDS_OBJECT (schema))
        {
          g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "structured_output: native needs the pipeline's output schema "
                               "(an 'output:' block)");
          json_object_unref (copy);
          return NULL;
        }
      json_object_set_member (copy, "output_schema", json_node_copy (schema));
    }
  return copy;
}

static gboolean
sluice_call_stage_configure (SluiceStage     *stage,
                             SluicePipeline  *pipeline,
                             JsonObject      *config,
                             GError         **error)
{
  SluiceCallStage *self = SLUICE_CALL_STAGE (stage);
  g_autoptr(GObject) provider = NULL;
  g_autoptr(JsonObject) provider_target = NULL;
  JsonObject *target;
  const char *name, *model;

  if (!SLUICE_IS_PIPELINE (pipeline))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "the call stage is configured within a pipeline (it needs its engine)");
      return FALSE;
    }

  target = pick_target (config, error);
  if (target == NULL)
    return FALSE;
  name = sluice_json_get_string (target, "provider");
  model = sluice_json_get_string (target, "model");
  if (name == NULL || *name == '\0' || model == NULL || *model == '\0')
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "a target needs a 'provider' and a 'model'");
      return FALSE;
    }

  if (!read_times (self, config, target, error) || !read_retry (self, config, error))
    return FALSE;

  if (!check_target (pipeline, name, target, error))
    return FALSE;
  provider = sluice_engine_create (sluice_pipeline_get_engine (pipeline), "provider", name, error);
  if (provider == NULL)
    return FALSE;
  provider_target = target_for_provider (pipeline, config, target, error);
  if (provider_target == NULL ||
      !sluice_provider_configure (SLUICE_PROVIDER (provider), provider_target, error))
    {
      g_prefix_error (error, "provider '%s': ", name);
      return FALSE;
    }

  g_set_object (&self->provider, SLUICE_PROVIDER (provider));
  g_free (self->provider_name);
  self->provider_name = g_strdup (name);
  g_free (self->model);
  self->model = g_strdup (model);
  g_clear_pointer (&self->public_target, json_object_unref);
  self->public_target = copy_without_secrets (target);
  return TRUE;
}

/* ---- one request ------------------------------------------------------------------ */

/* Per-request state, owned by the request's GTask: the stage itself is
 * shared by every request of the pipeline. The task holds one reference
 * for the whole flow (dropped by call_finish) and one per provider call in
 * flight; the timer sources hold none and are destroyed before it ends. */
typedef struct
{
  SluiceContext *context;
  GCancellable  *request_cancellable;
  gulong         cancel_handler;       /* on request_cancellable */
  GSource       *cancel_idle;          /* handles the cancellation in the main loop */
  GCancellable  *attempt_cancellable;
  GSource       *attempt_timer;        /* the attempt's time limit, then its grace */
  GSource       *wait_timer;           /* the backoff before the next attempt */
  guint          generation;           /* bumped when an attempt is given up on */
  guint          index;                /* of this call's attempt in flight, or next */
  gint64         started_ms;           /* the deadline counts from here */
  gint64         attempt_started_ms;
  gint64         attempt_limit_ms;
  gint64         delay_ms;             /* waited before the attempt in flight */
  char          *attempt_started_at;
  gboolean       limit_is_deadline;
  gboolean       in_flight;
  gboolean       timed_out;
  gboolean       cancelled;
  gboolean       done;
} Call;

/* One provider call; a late answer to a given-up attempt is recognized
 * by its generation and dropped. */
typedef struct
{
  GTask *task;
  guint  generation;
} Send;

static void start_attempt (GTask *task);

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* A signal handler rather than a GCancellableSource per request: every
 * source is visited on every main-loop iteration, and a batch has
 * hundreds of requests in flight. */
static void
stop_watching_cancellation (Call *call)
{
  if (call->cancel_handler != 0)
    g_cancellable_disconnect (call->request_cancellable, call->cancel_handler);
  call->cancel_handler = 0;
  g_clear_object (&call->request_cancellable);
  clear_source (&call->cancel_idle);
}

static void
call_free (Call *call)
{
  stop_watching_cancellation (call);
  clear_source (&call->attempt_timer);
  clear_source (&call->wait_timer);
  g_clear_object (&call->attempt_cancellable);
  g_clear_object (&call->context);
  g_free (call->attempt_started_at);
  g_free (call);
}

static GSource *
add_timeout (GTask       *task,
             gint64       ms,
             GSourceFunc  func)
{
  GSource *source = g_timeout_source_new ((guint) CLAMP (ms, 0, G_MAXUINT));

  g_source_set_callback (source, func, task, NULL);
  g_source_attach (source, g_task_get_context (task));
  return source;
}

static char *
format_duration (gint64 ms)
{
  char seconds[G_ASCII_DTOSTR_BUF_SIZE];

  if (ms < 1000)
    return g_strdup_printf ("%" G_GINT64_FORMAT "ms", ms);
  if (ms % 3600000 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h", ms / 3600000);
  if (ms % 60000 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m", ms / 60000);
  g_ascii_formatd (seconds, sizeof seconds, "%g", (gdouble) ms / 1000);
  return g_strdup_printf ("%ss", seconds);
}

/* Ends the request: error NULL means the answer is in the context. */
static void
call_finish (GTask  *task,
             GError *error)
{
  Call *call = g_task_get_task_data (task);

  call->done = TRUE;
  stop_watching_cancellation (call);
  clear_source (&call->attempt_timer);
  clear_source (&call->wait_timer);
  if (call->attempt_cancellable != NULL)
    g_cancellable_cancel (call->attempt_cancellable);   /* an attempt given up on */
  g_clear_object (&call->attempt_cancellable);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, SLUICE_VERDICT_CONTINUE);
  g_object_unref (task);
}

static GError *
cancelled_error (void)
{
  return g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED, "the request was cancelled");
}

/* full jitter: uniform in [0, min(cap, base * 2^failed)]; none: the bound. */
static gint64
backoff_ms (SluiceCallStage *self,
            guint            failed)
{
  gint64 bound = self->cap_ms;

  if (failed < 62 && self->base_ms <= (self->cap_ms >> failed))
    bound = self->base_ms << failed;
  if (!self->full_jitter || bound <= 0)
    return bound;
  return MIN ((gint64) (g_random_double () * (gdouble) (bound + 1)), bound);
}

/* What one attempt produced, as an error in the SLUICE_ERROR domain, or
 * NULL for an answer. */
static GError *
attempt_error (SluiceCallStage *self,
               Call            *call,
               SluiceResponse  *response,
               const GError    *send_error)
{
  const GError *error = response != NULL ? sluice_response_get_error (response) : send_error;

  if (response != NULL && error == NULL)
    return NULL;
  if (response == NULL && call->cancelled)
    return cancelled_error ();
  if (response == NULL && call->timed_out)
    {
      g_autofree char *limit = format_duration (call->limit_is_deadline ? self->deadline_ms
                                                                        : call->attempt_limit_ms);

      return g_error_new (SLUICE_ERROR, SLUICE_ERROR_TIMEOUT,
                          call->limit_is_deadline ? "no answer before the deadline of %s"
                                                  : "no answer within %s", limit);
    }
  if (error == NULL)
    return g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                        "provider '%s' did not answer within %d ms of being cancelled",
                        self->provider_name, ABANDON_GRACE_MS);
  if (error->domain == SLUICE_ERROR)
    return g_error_copy (error);
  return g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED, "provider '%s' failed: %s",
                      self->provider_name, error->message);
}

/* Usage details and stream timing: what the ledger and reports read. */
static void
add_response_details (JsonObject     *record,
                      SluiceResponse *response)
{
  const char *reason = sluice_response_get_finish_reason (response);

  if (sluice_response_get_prompt_tokens (response) >= 0)
    {
      json_object_set_int_member (record, "cached_tokens", sluice_response_get_cached_tokens (response));
      json_object_set_int_member (record, "cache_write_tokens", sluice_response_get_cache_write_tokens (response));
      json_object_set_int_member (record, "reasoning_tokens", sluice_response_get_reasoning_tokens (response));
      json_object_set_boolean_member (record, "usage_estimated", sluice_response_get_usage_estimated (response));
    }
  if (reason != NULL)
    json_object_set_string_member (record, "finish_reason", reason);
  json_object_set_boolean_member (record, "streamed", sluice_response_get_streamed (response));
  if (sluice_response_get_ttft_us (response) >= 0)
    json_object_set_double_member (record, "ttft_ms", sluice_response_get_ttft_us (response) / 1000.0);
}

static JsonObject *
attempt_record (SluiceCallStage *self,
                Call            *call,
                SluiceResponse  *response,
                const GError    *error,
                gint64           latency_ms)
{
  JsonObject *record = json_object_new ();
  const char *served = response != NULL ? sluice_response_get_model (response) : NULL;
  gint64 prompt = response != NULL ? sluice_response_get_prompt_tokens (response) : -1;
  gint64 completion = response != NULL ? sluice_response_get_completion_tokens (response) : -1;

  /* Numbered within the request, not this call: a re-run (the validate
   * stage's correction) calls the stage again on the same context. */
  json_object_set_int_member (record, "index",
                              json_array_get_length (sluice_context_get_attempts (call->context)));
  json_object_set_string_member (record, "started_at", call->attempt_started_at);
  json_object_set_string_member (record, "provider", self->provider_name);
  json_object_set_string_member (record, "model", self->model);
  if (served != NULL && !g_str_equal (served, self->model))
    json_object_set_string_member (record, "served_model", served);
  json_object_set_string_member (record, "outcome", error == NULL ? "ok" : "error");
  if (error != NULL)
    {
      json_object_set_string_member (record, "error_kind", sluice_error_kind (error->code));
      json_object_set_boolean_member (record, "retryable", sluice_error_code_is_retryable (error->code));
      json_object_set_string_member (record, "error_message", error->message);
    }
  if (response != NULL && sluice_response_get_http_status (response) > 0)
    json_object_set_int_member (record, "http_status", sluice_response_get_http_status (response));
  if (response != NULL && sluice_response_get_retry_after_ms (response) >= 0)
    json_object_set_int_member (record, "retry_after_ms", sluice_response_get_retry_after_ms (response));
  json_object_set_int_member (record, "delay_ms", call->delay_ms);
  json_object_set_int_member (record, "latency_ms", latency_ms);
  if (prompt >= 0)
    json_object_set_int_member (record, "prompt_tokens", prompt);
  if (completion >= 0)
    json_object_set_int_member (record, "completion_tokens", completion);

  if (prompt >= 0 && completion >= 0)
    {
      SluiceCatalog *catalog = sluice_catalog_get_default ();
      gint64 cached = sluice_response_get_cached_tokens (response);
      gdouble cost = -1;

      if (served != NULL)
        cost = sluice_catalog_compute_cost (catalog, self->provider_name, served, prompt, completion, cached);
      if (cost < 0)
        cost = sluice_catalog_compute_cost (catalog, self->provider_name, self->model, prompt, completion, cached);
      /* An unknown price is unknown, never free. */
      if (cost < 0)
        json_object_set_null_member (record, "cost_usd");
      else
        json_object_set_double_member (record, "cost_usd", cost);
    }
  else if (error != NULL)
    json_object_set_double_member (record, "cost_usd", 0);   /* nothing was billed */
  else
    json_object_set_null_member (record, "cost_usd");

  if (response != NULL && sluice_response_get_request_id (response) != NULL)
    json_object_set_string_member (record, "provider_request_id", sluice_response_get_request_id (response));
  if (response != NULL)
    add_response_details (record, response);
  return record;
}

static gboolean
on_wait_done (gpointer user_data)
{
  GTask *task = user_data;
  Call *call = g_task_get_task_data (task);

  g_clear_pointer (&call->wait_timer, g_source_unref);   /* it removes itself */
  start_attempt (task);
  return G_SOURCE_REMOVE;
}

/* Waits before the next attempt if the error is worth one, there are
 * attempts left and the deadline has room for the wait and an attempt. */
static gboolean
schedule_retry (GTask          *task,
                const GError   *error,
                SluiceResponse *response)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  gint64 retry_after = response != NULL ? sluice_response_get_retry_after_ms (response) : -1;
  gint64 delay;

  if (!sluice_error_code_is_retryable (error->code) || call->index + 1 >= self->max_attempts)
    return FALSE;

  /* A Retry-After longer than the cap is still honoured: retrying
   * earlier would only be refused again. One longer than max_retry_after
   * (a day, say) is not waited for at all: the request fails now. */
  if (retry_after > self->max_retry_after_ms)
    {
      g_debug ("request %s: not retrying: the provider asks to wait %" G_GINT64_FORMAT
               " ms, more than retry.max_retry_after", sluice_context_get_request_id (call->context),
               retry_after);
      return FALSE;
    }
  delay = MAX (backoff_ms (self, call->index), retry_after);

  if (self->deadline_ms > 0)
    {
      gint64 remaining = self->deadline_ms - (sluice_monotonic_ms () - call->started_ms);

      if (delay + MIN (self->timeout_ms, MIN_ATTEMPT_MS) > remaining)
        {
          g_debug ("request %s: not retrying after %s: a %" G_GINT64_FORMAT " ms wait "
                   "does not fit the %" G_GINT64_FORMAT " ms left before the deadline",
                   sluice_context_get_request_id (call->context), sluice_error_kind (error->code),
                   delay, remaining);
          return FALSE;
        }
    }

  g_debug ("request %s: attempt %u of %u failed (%s), retrying in %" G_GINT64_FORMAT " ms",
           sluice_context_get_request_id (call->context), call->index + 1, self->max_attempts,
           sluice_error_kind (error->code), delay);
  call->index++;
  call->delay_ms = delay;
  call->wait_timer = add_timeout (task, delay, on_wait_done);
  return TRUE;
}

static void
attempt_finished (GTask          *task,
                  SluiceResponse *response,
                  const GError   *send_error)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  gint64 latency_ms = sluice_monotonic_ms () - call->attempt_started_ms;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) record = NULL;
  guint n_attempts = call->index + 1;

  call->in_flight = FALSE;
  clear_source (&call->attempt_timer);
  g_clear_object (&call->attempt_cancellable);

  error = attempt_error (self, call, response, send_error);
  record = attempt_record (self, call, response, error, latency_ms);
  sluice_context_add_attempt (call->context, record);

  if (call->cancelled)
    {
      call_finish (task, cancelled_error ());
      return;
    }
  if (error == NULL)
    {
      sluice_context_set_response (call->context, response);
      call_finish (task, NULL);
      return;
    }
  if (schedule_retry (task, error, response))
    return;

  if (n_attempts > 1)
    g_prefix_error (&error, "after %u attempts: ", n_attempts);
  call_finish (task, g_steal_pointer (&error));
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Send *send = user_data;
  g_autoptr(GTask) task = send->task;
  Call *call = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceResponse) response = sluice_provider_send_finish (SLUICE_PROVIDER (source), result, &error);
  gboolean current = !call->done && send->generation == call->generation;

  g_free (send);
  if (current)
    attempt_finished (task, response, error);
}

static gboolean
on_attempt_abandoned (gpointer user_data)
{
  g_autoptr(GTask) task = g_object_ref (user_data);
  Call *call = g_task_get_task_data (task);

  g_clear_pointer (&call->attempt_timer, g_source_unref);   /* it removes itself */
  g_debug ("request %s: the provider did not return within %d ms of its cancellation; "
           "giving up on the attempt", sluice_context_get_request_id (call->context), ABANDON_GRACE_MS);
  call->generation++;
  attempt_finished (task, NULL, NULL);
  return G_SOURCE_REMOVE;
}

/* Cancels the attempt in flight. The provider normally returns at once,
 * perhaps before g_cancellable_cancel() does; one that does not is given
 * up on after a grace period. */
static void
cancel_attempt (GTask *task)
{
  g_autoptr(GTask) hold = g_object_ref (task);
  Call *call = g_task_get_task_data (task);
  guint generation = call->generation;

  g_cancellable_cancel (call->attempt_cancellable);
  if (!call->done && call->in_flight && call->generation == generation)
    {
      clear_source (&call->attempt_timer);
      call->attempt_timer = add_timeout (task, ABANDON_GRACE_MS, on_attempt_abandoned);
    }
}

static gboolean
on_attempt_timeout (gpointer user_data)
{
  GTask *task = user_data;
  Call *call = g_task_get_task_data (task);

  g_clear_pointer (&call->attempt_timer, g_source_unref);   /* it removes itself */
  call->timed_out = TRUE;
  cancel_attempt (task);
  return G_SOURCE_REMOVE;
}

static gboolean
on_request_cancelled (gpointer user_data)
{
  GTask *task = user_data;
  Call *call = g_task_get_task_data (task);

  g_clear_pointer (&call->cancel_idle, g_source_unref);   /* it removes itself */
  call->cancelled = TRUE;
  if (call->in_flight)
    cancel_attempt (task);
  else
    call_finish (task, cancelled_error ());   /* waiting between attempts */
  return G_SOURCE_REMOVE;
}

/* Runs inside g_cancellable_cancel(), where the handler may not be
 * disconnected: the work is done from the main loop instead. */
static void
on_cancelled_signal (GCancellable *cancellable,
                     gpointer      user_data)
{
  GTask *task = user_data;
  Call *call = g_task_get_task_data (task);

  if (call->cancel_idle != NULL || call->done)
    return;
  call->cancel_idle = g_idle_source_new ();
  g_source_set_callback (call->cancel_idle, on_request_cancelled, task, NULL);
  g_source_attach (call->cancel_idle, g_task_get_context (task));
}

static void
start_attempt (GTask *task)
{
  SluiceCallStage *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  Send *send;

  call->attempt_limit_ms = self->timeout_ms;
  call->limit_is_deadline = FALSE;
  if (self->deadline_ms > 0)
    {
      gint64 remaining = self->deadline_ms - (sluice_monotonic_ms () - call->started_ms);

      if (remaining < call->attempt_limit_ms)
        {
          call->attempt_limit_ms = MAX (remaining, 0);
          call->limit_is_deadline = TRUE;
        }
    }

  call->timed_out = FALSE;
  call->attempt_cancellable = g_cancellable_new ();
  call->attempt_timer = add_timeout (task, call->attempt_limit_ms, on_attempt_timeout);
  g_free (call->attempt_started_at);
  call->attempt_started_at = sluice_now_iso8601 ();
  call->attempt_started_ms = sluice_monotonic_ms ();
  call->in_flight = TRUE;
  sluice_context_set_target (call->context, self->public_target);

  send = g_new (Send, 1);
  send->task = g_object_ref (task);
  send->generation = call->generation;
  sluice_provider_send_async (self->provider, call->context, call->attempt_cancellable, on_sent, send);
}

static void
sluice_call_stage_process_async (SluiceStage         *stage,
                                 SluiceContext       *context,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  SluiceCallStage *self = SLUICE_CALL_STAGE (stage);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Call *call;

  g_task_set_source_tag (task, sluice_call_stage_process_async);
  /* A cancelled request fails with SLUICE_ERROR_CANCELLED, not GIO's. */
  g_task_set_check_cancellable (task, FALSE);

  call = g_new0 (Call, 1);
  call->context = g_object_ref (context);
  call->started_ms = sluice_monotonic_ms ();
  g_task_set_task_data (task, call, (GDestroyNotify) call_free);

  if (self->provider == NULL)
    {
      call_finish (task, g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                                              "the call stage was used before it was configured"));
      return;
    }
  if (g_cancellable_is_cancelled (cancellable))
    {
      call_finish (task, cancelled_error ());
      return;
    }
  if (cancellable != NULL)
    {
      call->request_cancellable = g_object_ref (cancellable);
      call->cancel_handler = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled_signal), task, NULL);
    }

  start_attempt (task);
}

static SluiceVerdict
sluice_call_stage_process_finish (SluiceStage   *stage,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  gssize verdict;

  g_return_val_if_fail (g_task_is_valid (result, stage), SLUICE_VERDICT_FAIL);

  verdict = g_task_propagate_int (G_TASK (result), error);
  return verdict < 0 ? SLUICE_VERDICT_FAIL : (SluiceVerdict) verdict;
}

static void
stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_call_stage_configure;
  iface->process_async = sluice_call_stage_process_async;
  iface->process_finish = sluice_call_stage_process_finish;
}
