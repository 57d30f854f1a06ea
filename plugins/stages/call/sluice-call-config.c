/* sluice-call-config.c — reading the call stage's block: targets and their
 * providers, the fallback policy, retries and their budget, breakers and
 * hedging.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-call-private.h"

#define DEFAULT_TIMEOUT_MS   (60 * 1000)
#define DEFAULT_MAX_ATTEMPTS 3
#define MAX_ATTEMPTS_LIMIT   100
#define DEFAULT_BASE_MS      1000
#define DEFAULT_CAP_MS       (30 * 1000)
#define DEFAULT_MAX_RETRY_AFTER_MS (2 * 60 * 1000)

/* Target members the call stage reads itself; the provider never sees them. */
static const char * const stage_members[] = { "name", "max_attempts", "weight", "tier", "hedge",
                                              "structured_output", NULL };

static const SluiceErrorCode default_unhealthy[] = {
  SLUICE_ERROR_RATE_LIMITED, SLUICE_ERROR_OVERLOADED, SLUICE_ERROR_SERVER, SLUICE_ERROR_TIMEOUT,
  SLUICE_ERROR_NETWORK, SLUICE_ERROR_TRUNCATED, SLUICE_ERROR_MALFORMED,
};

void
sluice_call_target_free (CallTarget *target)
{
  g_clear_object (&target->provider);
  g_free (target->provider_name);
  g_free (target->model);
  g_free (target->name);
  g_clear_pointer (&target->public_target, json_object_unref);
  g_free (target);
}

/* An absent or null member leaves *out NULL; anything but an object is an error. */
static gboolean
optional_object (JsonObject  *config,
                 const char  *member,
                 JsonObject **out,
                 GError     **error)
{
  JsonNode *node = config != NULL ? json_object_get_member (config, member) : NULL;

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return sluice_config_invalid (error, "'%s' must be an object", member);
  *out = json_node_get_object (node);
  return TRUE;
}

static gboolean
get_count (JsonObject  *object,
           const char  *member,
           gint64       min,
           gint64       max,
           gint64       default_value,
           gint64      *out,
           GError     **error)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  *out = default_value;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
      json_node_get_int (node) < min || json_node_get_int (node) > max)
    return sluice_config_invalid (error, "'%s' must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                    member, min, max);
  *out = json_node_get_int (node);
  return TRUE;
}

/* ---- targets ---------------------------------------------------------------- */

static JsonArray *
pick_targets (JsonObject  *config,
              GError     **error)
{
  JsonNode *one = json_object_get_member (config, "target");
  JsonNode *many = json_object_get_member (config, "targets");
  JsonArray *targets;

  if (one != NULL && many != NULL)
    {
      sluice_config_invalid (error, "give 'target' or 'targets', not both");
      return NULL;
    }
  if (one != NULL && JSON_NODE_HOLDS_OBJECT (one))
    {
      targets = json_array_new ();
      json_array_add_element (targets, json_node_copy (one));
      return targets;
    }
  if (many != NULL && JSON_NODE_HOLDS_ARRAY (many) && json_array_get_length (json_node_get_array (many)) > 0)
    return json_array_ref (json_node_get_array (many));
  sluice_config_invalid (error, "a target is required, e.g. target: {provider: openai, "
                  "model: gpt-4o-mini, api_key: ${OPENAI_API_KEY}}");
  return NULL;
}

static gboolean
is_stage_member (const char *name)
{
  return g_strv_contains (stage_members, name);
}

/* What the context and the policy may see of the target: other stages log it. */
static JsonObject *
copy_public (JsonObject *target)
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

/* What the provider is configured with: the target without the stage's
 * own members, plus the stage's stream settings where the target has
 * none (the pipeline's output schema is added after the check). */
static JsonObject *
target_for_provider (JsonObject *config,
                     JsonObject *target)
{
  static const char * const inherited[] = { "stream", "idle_timeout", "connect_timeout", "first_byte_timeout" };
  g_autoptr(JsonObject) copy = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_iter_init (&iter, target);
  while (json_object_iter_next (&iter, &name, &value))
    if (!is_stage_member (name))
      json_object_set_member (copy, name, json_node_copy (value));
  for (guint i = 0; i < G_N_ELEMENTS (inherited); i++)
    if (!json_object_has_member (copy, inherited[i]) && json_object_has_member (config, inherited[i]))
      json_object_set_member (copy, inherited[i], json_node_copy (json_object_get_member (config, inherited[i])));

  return g_steal_pointer (&copy);
}

/* ---- structured output ------------------------------------------------------- */

/* The stage's structured_output: its own, else auto when the pipeline has
 * an output schema and a parse stage to read the answer, else off. */
static gboolean
read_stage_structured (SluicePipeline  *pipeline,
                       JsonObject      *config,
                       CallStructured  *out,
                       GError         **error)
{
  JsonNode *schema = sluice_pipeline_get_output_schema (pipeline);
  const char *name = sluice_json_get_string (config, "structured_output");

  if (json_object_has_member (config, "structured_output"))
    {
      if (!sluice_call_structured_from_name (name, out))
        return sluice_config_invalid (error, "'structured_output' must be auto, native, prompt or off");
      return TRUE;
    }
  *out = schema != NULL && JSON_NODE_HOLDS_OBJECT (schema) && sluice_pipeline_has_stage (pipeline, "parse")
         ? CALL_STRUCTURED_AUTO : CALL_STRUCTURED_OFF;
  return TRUE;
}

/* A target's own structured_output wins over the stage's; auto is
 * resolved here, once per target. Native mode hands the provider the
 * schema; prompt mode needs the instruction, made once for the stage. */
static gboolean
read_target_structured (SluiceCallStage  *self,
                        SluicePipeline   *pipeline,
                        JsonObject       *target,
                        CallStructured    stage_mode,
                        const char       *provider_name,
                        JsonObject       *provider_target,
                        CallStructured   *out,
                        GError          **error)
{
  JsonNode *schema = sluice_pipeline_get_output_schema (pipeline);
  CallStructured mode = stage_mode;

  if (json_object_has_member (target, "structured_output") &&
      !sluice_call_structured_from_name (sluice_json_get_string (target, "structured_output"), &mode))
    return sluice_config_invalid (error, "a target's 'structured_output' must be auto, native, prompt or off");
  if (mode != CALL_STRUCTURED_OFF && (schema == NULL || !JSON_NODE_HOLDS_OBJECT (schema)))
    return sluice_config_invalid (error, "structured_output: %s needs the pipeline's output schema (an 'output:' block)",
                                  sluice_call_structured_name (mode));

  if (mode == CALL_STRUCTURED_NATIVE && sluice_call_structured_native_refusal (provider_name, target, schema) != NULL)
    return sluice_config_invalid (error, "structured_output: native: %s; use auto (it picks prompt mode for such a "
                                  "schema) or prompt",
                                  sluice_call_structured_native_refusal (provider_name, target, schema));

  *out = sluice_call_structured_resolve (mode, provider_name, target, schema);
  if (*out == CALL_STRUCTURED_NATIVE)
    json_object_set_member (provider_target, "output_schema", json_node_copy (schema));
  else if (*out == CALL_STRUCTURED_PROMPT && self->schema_instruction == NULL)
    self->schema_instruction = sluice_call_structured_instruction (schema);
  if (mode == CALL_STRUCTURED_AUTO)
    g_debug ("structured output for a %s target: %s", provider_name, sluice_call_structured_name (*out));
  return TRUE;
}

/* ---- targets, continued --------------------------------------------------------- */

static CallTarget *
read_target (SluiceCallStage  *self,
             SluicePipeline   *pipeline,
             JsonObject       *config,
             JsonObject       *target,
             gint64            stage_timeout_ms,
             guint             default_attempts,
             CallStructured    stage_structured,
             GError          **error)
{
  CallStructured structured = CALL_STRUCTURED_OFF;
  SluiceEngine *engine = sluice_pipeline_get_engine (pipeline);
  g_autoptr(JsonObject) provider_target = NULL;
  g_autoptr(JsonNode) provider_node = NULL;
  g_autoptr(GObject) provider = NULL;
  CallTarget *entry;
  const char *provider_name = sluice_json_get_string (target, "provider");
  const char *model = sluice_json_get_string (target, "model");
  const char *name = sluice_json_get_string (target, "name");
  gint64 attempts;
  JsonNode *hedge;

  if (provider_name == NULL || *provider_name == '\0' || model == NULL || *model == '\0')
    {
      sluice_config_invalid (error, "a target needs a 'provider' and a 'model'");
      return NULL;
    }

  provider_target = target_for_provider (config, target);
  provider_node = json_node_init_object (json_node_alloc (), provider_target);
  /* Its message names the provider. */
  if (!sluice_engine_check_config (engine, "provider", provider_name, provider_node, error))
    return NULL;
  if (!get_count (target, "max_attempts", 1, MAX_ATTEMPTS_LIMIT, default_attempts, &attempts, error))
    return NULL;
  if (!read_target_structured (self, pipeline, target, stage_structured, provider_name,
                               provider_target, &structured, error))
    return NULL;

  entry = g_new0 (CallTarget, 1);
  entry->provider_name = g_strdup (provider_name);
  entry->model = g_strdup (model);
  entry->name = name != NULL ? g_strdup (name) : g_strdup_printf ("%s/%s", provider_name, model);
  entry->max_attempts = (guint) attempts;
  entry->structured = structured;
  hedge = json_object_get_member (target, "hedge");
  entry->hedge = hedge != NULL && JSON_NODE_HOLDS_VALUE (hedge) ? json_node_get_boolean (hedge) : TRUE;
  /* The target's own timeout wins over the stage's. */
  if (!sluice_config_get_duration (target, "timeout", stage_timeout_ms, &entry->timeout_ms, error) ||
      (entry->timeout_ms <= 0 && !sluice_config_invalid (error, "'timeout' must be longer than 0")))
    {
      sluice_call_target_free (entry);
      return NULL;
    }

  provider = sluice_engine_create (engine, "provider", provider_name, error);
  if (provider == NULL ||
      !sluice_provider_configure (SLUICE_PROVIDER (provider), provider_target, error))
    {
      g_prefix_error (error, "provider '%s': ", provider_name);
      sluice_call_target_free (entry);
      return NULL;
    }
  entry->provider = SLUICE_PROVIDER (g_steal_pointer (&provider));
  entry->public_target = copy_public (target);
  json_object_set_int_member (entry->public_target, "max_attempts", entry->max_attempts);
  return entry;
}

/* ---- retries --------------------------------------------------------------------- */

static gboolean
read_retry (SluiceCallStage  *self,
            JsonObject       *config,
            gint64           *max_attempts,
            GError          **error)
{
  JsonObject *retry = NULL, *budget = NULL;
  const char *jitter;
  gint64 attempts, wasted;

  if (!optional_object (config, "retry", &retry, error) ||
      !optional_object (retry, "budget", &budget, error))
    return FALSE;

  if (!get_count (retry, "max_attempts", 1, MAX_ATTEMPTS_LIMIT, DEFAULT_MAX_ATTEMPTS, max_attempts, error) ||
      !sluice_config_get_duration (retry, "base", DEFAULT_BASE_MS, &self->base_ms, error) ||
      !sluice_config_get_duration (retry, "cap", DEFAULT_CAP_MS, &self->cap_ms, error) ||
      !sluice_config_get_duration (retry, "max_retry_after", DEFAULT_MAX_RETRY_AFTER_MS,
                                   &self->max_retry_after_ms, error) ||
      !get_count (budget, "attempts", 1, MAX_ATTEMPTS_LIMIT, 0, &attempts, error) ||
      !sluice_config_get_duration (budget, "wait", 0, &self->budget_wait_ms, error) ||
      !get_count (budget, "wasted_tokens", 0, G_MAXINT64, -1, &wasted, error))
    {
      g_prefix_error (error, "retry: ");
      return FALSE;
    }
  self->budget_attempts = (guint) attempts;
  self->budget_wasted_tokens = wasted;

  jitter = retry != NULL && json_object_has_member (retry, "jitter") ? sluice_json_get_string (retry, "jitter") : "full";
  if (g_strcmp0 (jitter, "full") == 0)
    self->jitter = JITTER_FULL;
  else if (g_strcmp0 (jitter, "decorrelated") == 0)
    self->jitter = JITTER_DECORRELATED;
  else if (g_strcmp0 (jitter, "none") == 0)
    self->jitter = JITTER_NONE;
  else
    return sluice_config_invalid (error, "retry: 'jitter' must be \"full\", \"decorrelated\" or \"none\"");
  return TRUE;
}

/* ---- breakers ------------------------------------------------------------------- */

static const char *
target_base_url (CallTarget *target)
{
  const char *base_url = sluice_json_get_string (target->public_target, "base_url");

  return base_url != NULL && *base_url != '\0' ? base_url : "default";
}

/* Whether another target serves the same provider and model from another
 * base URL (a mirror): one failing endpoint must not open the other's
 * breaker, so the default key tells them apart. */
static gboolean
has_mirror (SluiceCallStage *self,
            CallTarget      *target)
{
  for (guint i = 0; i < self->targets->len; i++)
    {
      CallTarget *other = g_ptr_array_index (self->targets, i);

      if (other != target &&
          g_strcmp0 (other->provider_name, target->provider_name) == 0 &&
          g_strcmp0 (other->model, target->model) == 0 &&
          g_strcmp0 (target_base_url (other), target_base_url (target)) != 0)
        return TRUE;
    }
  return FALSE;
}

static char *
breaker_key (SluiceCallStage *self,
             const char      *key_kind,
             CallTarget      *target,
             guint            index)
{
  if (g_strcmp0 (key_kind, "provider") == 0)
    return g_strdup (target->provider_name);
  if (g_strcmp0 (key_kind, "endpoint") == 0 || (key_kind == NULL && has_mirror (self, target)))
    return g_strdup_printf ("%s:%s@%s", target->provider_name, target->model, target_base_url (target));
  if (g_strcmp0 (key_kind, "target") == 0)
    return g_strdup_printf ("%s (target %u)", target->name, index);
  return g_strdup_printf ("%s:%s", target->provider_name, target->model);
}

/* A breaker's transitions are events for the pipeline's sinks (the
 * ledger's events table, the metrics). */
typedef struct
{
  SluiceCallStage *stage;
  char            *target;   /* the first target the breaker guards */
} BreakerWatch;

static void
breaker_watch_free (gpointer data,
                    GClosure *closure)
{
  BreakerWatch *watch = data;

  g_free (watch->target);
  g_free (watch);
}

static void
on_breaker_changed (SluiceBreaker *breaker,
                    int            old_state,
                    int            new_state,
                    BreakerWatch  *watch)
{
  g_autoptr(JsonObject) detail = json_object_new ();
  const char *event;

  if (watch->stage->pipeline == NULL)
    return;
  switch (new_state)
    {
    case SLUICE_BREAKER_OPEN: event = "breaker_open"; break;
    case SLUICE_BREAKER_HALF_OPEN: event = "breaker_half_open"; break;
    default: event = "breaker_closed"; break;
    }
  json_object_set_string_member (detail, "key", sluice_breaker_get_key (breaker));
  json_object_set_string_member (detail, "from", sluice_breaker_state_to_string (old_state));
  json_object_set_int_member (detail, "times_opened", sluice_breaker_get_n_opened (breaker));
  sluice_pipeline_emit_event (watch->stage->pipeline, event, watch->target, NULL, detail);
}

static gboolean
read_unhealthy_kinds (SluiceCallStage  *self,
                      JsonObject       *breaker,
                      GError          **error)
{
  JsonNode *node = breaker != NULL ? json_object_get_member (breaker, "count") : NULL;
  JsonArray *kinds;

  self->unhealthy_kinds = 0;
  if (node == NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (default_unhealthy); i++)
        self->unhealthy_kinds |= 1u << default_unhealthy[i];
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return sluice_config_invalid (error, "breaker: 'count' must be a list of error kinds");
  kinds = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (kinds); i++)
    {
      const char *kind = json_node_get_string (json_array_get_element (kinds, i));
      gboolean found = FALSE;

      for (guint code = SLUICE_ERROR_FAILED; code <= SLUICE_ERROR_CIRCUIT_OPEN && kind != NULL; code++)
        if (g_str_equal (sluice_error_kind (code), kind))
          {
            self->unhealthy_kinds |= 1u << code;
            found = TRUE;
          }
      if (!found)
        return sluice_config_invalid (error, "breaker: unknown error kind '%s' in 'count'", kind != NULL ? kind : "");
    }
  return TRUE;
}

static gboolean
read_breakers (SluiceCallStage  *self,
               JsonObject       *config,
               GError          **error)
{
  g_autoptr(GHashTable) breakers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  SluiceBreakerSettings settings = { 0 };
  JsonObject *block = NULL;
  gint64 failures, min_calls, probes;
  const char *key_kind;
  JsonNode *rate;

  if (!optional_object (config, "breaker", &block, error))
    return FALSE;

  if (!read_unhealthy_kinds (self, block, error))
    return FALSE;

  if (block != NULL)
    {
      if (!get_count (block, "failures", 0, 1000000, 5, &failures, error) ||
          !get_count (block, "min_calls", 1, 1000000, 20, &min_calls, error) ||
          !get_count (block, "probes", 1, 1000, 1, &probes, error) ||
          !sluice_config_get_duration (block, "window", 60000, &settings.window_ms, error) ||
          !sluice_config_get_duration (block, "reset", 30000, &settings.reset_ms, error))
        {
          g_prefix_error (error, "breaker: ");
          return FALSE;
        }
      rate = json_object_get_member (block, "failure_rate");
      settings.failures = (guint) failures;
      settings.min_calls = (guint) min_calls;
      settings.probes = (guint) probes;
      settings.failure_rate = rate != NULL && JSON_NODE_HOLDS_VALUE (rate) ? json_node_get_double (rate) : 0;
      if (settings.failure_rate < 0 || settings.failure_rate > 1)
        return sluice_config_invalid (error, "breaker: 'failure_rate' must be from 0 to 1");
      if (settings.failures == 0 && settings.failure_rate == 0)
        return sluice_config_invalid (error, "breaker: give 'failures' or 'failure_rate' (both are 0)");
    }
  key_kind = block != NULL ? sluice_json_get_string (block, "key") : NULL;

  g_clear_object (&self->set);
  self->set = sluice_target_set_new ();
  for (guint i = 0; i < self->targets->len; i++)
    {
      CallTarget *target = g_ptr_array_index (self->targets, i);
      SluiceBreaker *breaker = NULL;

      if (block != NULL)
        {
          g_autofree char *key = breaker_key (self, key_kind, target, i);

          breaker = g_hash_table_lookup (breakers, key);
          if (breaker == NULL)
            {
              BreakerWatch *watch = g_new0 (BreakerWatch, 1);

              breaker = sluice_breaker_new (key, &settings);
              g_hash_table_insert (breakers, g_strdup (key), breaker);
              watch->stage = self;
              watch->target = g_strdup (target->name);
              g_signal_connect_data (breaker, "state-changed", G_CALLBACK (on_breaker_changed), watch,
                                     breaker_watch_free, 0);
            }
        }
      sluice_target_set_add (self->set, target->public_target, breaker);
    }
  return TRUE;
}

/* ---- hedging, policy ------------------------------------------------------------- */

static gboolean
read_hedge (SluiceCallStage  *self,
            JsonObject       *config,
            GError          **error)
{
  JsonObject *hedge = NULL;
  const char *after;
  gint64 min_samples;

  if (!optional_object (config, "hedge", &hedge, error))
    return FALSE;
  self->hedging = hedge != NULL;
  if (hedge == NULL)
    return TRUE;
  if (self->targets->len < 2)
    return sluice_config_invalid (error, "hedge: needs at least two targets (the second attempt goes to another)");
  if (!get_count (hedge, "min_samples", 1, 200, 20, &min_samples, error))
    {
      g_prefix_error (error, "hedge: ");
      return FALSE;
    }
  self->hedge_min_samples = (guint) min_samples;

  after = json_object_has_member (hedge, "after") ? sluice_json_get_string (hedge, "after") : "p95";
  self->hedge_after_ms = 0;
  self->hedge_percentile = 95;
  if (after != NULL && after[0] == 'p' && g_ascii_isdigit (after[1]))
    {
      self->hedge_percentile = g_ascii_strtod (after + 1, NULL);
      if (self->hedge_percentile <= 0 || self->hedge_percentile >= 100)
        return sluice_config_invalid (error, "hedge: 'after' percentile must be between p1 and p99");
      return TRUE;
    }
  if (!sluice_config_get_duration (hedge, "after", 0, &self->hedge_after_ms, NULL) || self->hedge_after_ms <= 0)
    return sluice_config_invalid (error, "hedge: 'after' must be a duration such as 300ms or a percentile such as p95");
  return TRUE;
}

static gboolean
read_policy (SluiceCallStage  *self,
             SluicePipeline   *pipeline,
             JsonObject       *config,
             GError          **error)
{
  SluiceEngine *engine = sluice_pipeline_get_engine (pipeline);
  JsonNode *node = json_object_get_member (config, "policy");
  g_autoptr(JsonObject) settings = NULL;
  g_autoptr(JsonNode) settings_node = NULL;
  g_autoptr(GObject) policy = NULL;
  const char *name = "chain";

  /* One target needs no policy: it is tried and retried. */
  if (node == NULL && self->targets->len == 1)
    {
      g_clear_object (&self->policy);
      return TRUE;
    }
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node))
    name = json_node_get_string (node);
  else if (node != NULL && JSON_NODE_HOLDS_OBJECT (node) && json_object_get_size (json_node_get_object (node)) == 1)
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr(GList) members = json_object_get_members (object);
      JsonNode *value;

      name = members->data;
      value = json_object_get_member (object, name);
      if (value != NULL && JSON_NODE_HOLDS_OBJECT (value))
        settings = json_object_ref (json_node_get_object (value));
    }
  else if (node != NULL)
    return sluice_config_invalid (error, "'policy' must be a name such as chain, or {name: {settings}}");
  if (name == NULL || *name == '\0')
    return sluice_config_invalid (error, "'policy' must name a policy plugin");
  if (settings == NULL)
    settings = json_object_new ();

  settings_node = json_node_init_object (json_node_alloc (), settings);
  if (!sluice_engine_check_config (engine, "policy", name, settings_node, error))
    return FALSE;
  policy = sluice_engine_create (engine, "policy", name, error);
  if (policy == NULL ||
      !sluice_fallback_policy_configure (SLUICE_FALLBACK_POLICY (policy), settings, self->set, error))
    {
      g_prefix_error (error, "policy '%s': ", name);
      return FALSE;
    }
  g_set_object (&self->policy, SLUICE_FALLBACK_POLICY (policy));
  return TRUE;
}

static gboolean
read_budget (SluiceCallStage  *self,
             SluicePipeline   *pipeline,
             JsonObject       *config,
             GError          **error)
{
  JsonObject *block;

  g_clear_object (&self->budget);
  if (!optional_object (config, "budget", &block, error))
    return FALSE;
  if (block != NULL)
    self->budget = sluice_budget_new (block, sluice_pipeline_get_name (pipeline), error);
  return block == NULL || self->budget != NULL;
}

gboolean
sluice_call_stage_read_config (SluiceCallStage  *self,
                               SluicePipeline   *pipeline,
                               JsonObject       *config,
                               GError          **error)
{
  g_autoptr(JsonArray) targets = NULL;
  gint64 timeout_ms, max_attempts;
  CallStructured structured = CALL_STRUCTURED_OFF;

  targets = pick_targets (config, error);
  if (targets == NULL)
    return FALSE;
  g_clear_pointer (&self->schema_instruction, g_free);
  if (!read_stage_structured (pipeline, config, &structured, error))
    return FALSE;
  if (!sluice_config_get_duration (config, "timeout", DEFAULT_TIMEOUT_MS, &timeout_ms, error) ||
      !sluice_config_get_duration (config, "deadline", 0, &self->deadline_ms, error))
    return FALSE;
  if (timeout_ms <= 0)
    return sluice_config_invalid (error, "'timeout' must be longer than 0");
  if (json_object_has_member (config, "deadline") && self->deadline_ms <= 0)
    return sluice_config_invalid (error, "'deadline' must be longer than 0");
  if (!read_retry (self, config, &max_attempts, error))
    return FALSE;
  self->fallback_on_rejection = g_strcmp0 (sluice_json_get_string (config, "on_rejected_answer"), "fallback") == 0;

  g_ptr_array_set_size (self->targets, 0);
  for (guint i = 0; i < json_array_get_length (targets); i++)
    {
      JsonNode *node = json_array_get_element (targets, i);
      CallTarget *target;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return sluice_config_invalid (error, "targets[%u] must be an object: {provider, model, ...}", i);
      target = read_target (self, pipeline, config, json_node_get_object (node), timeout_ms,
                            (guint) max_attempts, structured, error);
      if (target == NULL)
        {
          if (json_array_get_length (targets) > 1)
            g_prefix_error (error, "targets[%u]: ", i);
          return FALSE;
        }
      g_ptr_array_add (self->targets, target);
    }
  if (self->budget_attempts == 0)
    self->budget_attempts = MIN ((guint) max_attempts * self->targets->len, MAX_ATTEMPTS_LIMIT);

  if (!read_budget (self, pipeline, config, error))
    return FALSE;
  if (self->pipeline == NULL)
    {
      self->pipeline = pipeline;
      g_object_add_weak_pointer (G_OBJECT (pipeline), (gpointer *) &self->pipeline);
    }
  return read_breakers (self, config, error) &&
         read_hedge (self, config, error) &&
         read_policy (self, pipeline, config, error);
}
