/* sluice-context-check-stage.c — checks, before any request, that the
 * prompt and the output reserved for the answer fit the model's context
 * window, and what to do when they do not.
 *
 * The window and the model's largest output come from the catalog
 * (data/models.json); `window:` caps it (a smaller window is a cost
 * limit) and stands in for a model the catalog does
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
#include "sluice-context-check-private.h"
#include "sluice-budget-private.h"

#include <math.h>

#define DEFAULT_RESERVE_CAP 4096

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
void
sluice_context_check_keep_count (SluiceContext *context,
                                 Checked       *checked,
                                 gint64         tokens,
                                 gboolean       estimated)
{
  JsonObject *variables = sluice_context_get_variables (context);

  sluice_context_set_counted_prompt_tokens (context, tokens, estimated, checked->model);
  json_object_set_int_member (variables, "input_tokens", tokens);
  json_object_set_boolean_member (variables, "input_tokens_estimated", estimated);
}

char *
sluice_context_check_overflow_message (Checked  *checked,
                                       gint64    tokens,
                                       gboolean  estimated)
{
  return g_strdup_printf ("the prompt of %" G_GINT64_FORMAT " tokens%s and the %" G_GINT64_FORMAT
                          " reserved for the output need %" G_GINT64_FORMAT " tokens, more than the %"
                          G_GINT64_FORMAT "-token context window of %s (%s)",
                          tokens, estimated ? " (estimated)" : "", checked->reserve, tokens + checked->reserve,
                          checked->window, checked->model, checked->provider != NULL ? checked->provider : "no provider");
}

void
sluice_context_check_record (SluiceContext *context,
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

SluiceVerdict
sluice_context_check_fail (SluiceContext *context,
                           Checked       *checked,
                           gint64         tokens,
                           const char    *message,
                           GError       **error)
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
          g_autofree char *message = sluice_context_check_overflow_message (checked, tokens, estimated);
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

      return sluice_context_check_fail (context, last, last_tokens, message, error);
    }
  sluice_context_check_keep_count (context, g_ptr_array_index (self->checked, first_fit), first_tokens, first_estimated);
  sluice_context_check_record (context, g_ptr_array_index (self->checked, first_fit), first_tokens, first_estimated);
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
    sluice_context_check_keep_count (context, checked, tokens, estimated);
  if (tokens + checked->reserve <= checked->window)
    {
      sluice_context_check_record (context, checked, tokens, estimated);
      return SLUICE_VERDICT_CONTINUE;
    }
  if (self->on_overflow == OVERFLOW_TRUNCATE)
    return sluice_context_check_truncate (context, messages, checked, self->variable, self->safety_factor,
                                           tokens, estimated, error);
  {
    g_autofree char *message = sluice_context_check_overflow_message (checked, tokens, estimated);

    return sluice_context_check_fail (context, checked, tokens, message, error);
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

  /* the catalog's window, or a smaller one the pipeline asks for (a cap
   * on what a request may cost); window: alone for a model it lacks */
  if (sluice_json_get_int (entry, "context_window", -1) > 0)
    window = window > 0 ? MIN (window, sluice_json_get_int (entry, "context_window", -1))
                        : sluice_json_get_int (entry, "context_window", -1);
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
  if (variable != NULL)
    {
      g_autoptr(GError) missing = NULL;

      /* found out only when a prompt overflows, otherwise */
      if (!sluice_pipeline_check_input_path (pipeline, variable, &missing))
        return sluice_config_invalid (error, "truncate: %s", missing->message);
    }
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
